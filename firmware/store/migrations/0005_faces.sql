-- Faces: a user's avatar. The box re-encodes an uploaded picture into square copies stored
-- under one random name (`[0-9a-f]{32}.png|jpg`) in DATA_DIR/files/avatars/<side>/; NULL means
-- the client draws the generated default. A new name on every change, so the copies are cached
-- for good by URL.
ALTER TABLE users ADD COLUMN avatar TEXT;
