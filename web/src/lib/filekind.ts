// A file's kind in words ("Text file", "PDF document") instead of a MIME type: the box labels
// what it cannot sniff `application/octet-stream`, which says nothing to a person.

const BY_EXT: Record<string, string> = {
  txt: 'Text file',
  md: 'Text file (Markdown)',
  log: 'Log file',
  csv: 'Spreadsheet (CSV)',
  json: 'Data file (JSON)',
  pdf: 'PDF document',
  doc: 'Word document',
  docx: 'Word document',
  odt: 'Text document',
  xls: 'Spreadsheet',
  xlsx: 'Spreadsheet',
  ods: 'Spreadsheet',
  ppt: 'Presentation',
  pptx: 'Presentation',
  odp: 'Presentation',
  zip: 'ZIP archive',
  gz: 'Compressed file',
  tgz: 'Compressed archive',
  '7z': '7-Zip archive',
  rar: 'RAR archive',
  tar: 'Archive',
  mp3: 'Audio (MP3)',
  ogg: 'Audio (Ogg)',
  opus: 'Audio (Opus)',
  flac: 'Audio (FLAC)',
  wav: 'Audio (WAV)',
  m4a: 'Audio (M4A)',
  mp4: 'Video (MP4)',
  webm: 'Video (WebM)',
  mkv: 'Video (MKV)',
  mov: 'Video (QuickTime)',
  png: 'Image (PNG)',
  jpg: 'Image (JPEG)',
  jpeg: 'Image (JPEG)',
  gif: 'Image (GIF)',
  webp: 'Image (WebP)',
  svg: 'Image (SVG)',
  html: 'Web page',
  htm: 'Web page',
  exe: 'Program (Windows)',
  apk: 'App (Android)',
  iso: 'Disk image',
  img: 'Disk image',
};

const BY_FAMILY: Record<string, string> = { text: 'Text file', image: 'Image', audio: 'Audio', video: 'Video', font: 'Font' };

export function fileKind(filename: string, contentType?: string | null): string {
  const ext = /\.([A-Za-z0-9]{1,5})$/.exec(filename)?.[1]?.toLowerCase();
  if (ext && BY_EXT[ext]) return BY_EXT[ext];
  const ct = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (ct === 'application/pdf') return 'PDF document';
  if (ct === 'application/zip') return 'ZIP archive';
  const family = BY_FAMILY[ct.split('/')[0]];
  if (family) return family;
  return ext ? `${ext.toUpperCase()} file` : 'File';
}
