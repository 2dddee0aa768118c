//! How strong a new admin password is. The box is reachable by everyone on the LAN (and its
//! setup AP), so the first admin's password must not be guessable. The web app's meter uses
//! the same rules; this is the authority.

use chat::Error;

/// Passwords people pick first (from public breach top lists), lower-case.
const COMMON: &[&str] = &[
    "123456", "password", "12345678", "qwerty", "123456789", "12345", "1234", "111111", "1234567", "dragon", "123123",
    "baseball", "abc123", "football", "monkey", "letmein", "shadow", "master", "666666", "qwertyuiop", "123321",
    "mustang", "1234567890", "michael", "654321", "superman", "1qaz2wsx", "7777777", "121212", "000000", "qazwsx",
    "123qwe", "killer", "trustno1", "jordan", "jennifer", "zxcvbnm", "asdfgh", "hunter", "buster", "soccer", "harley",
    "batman", "andrew", "tigger", "sunshine", "iloveyou", "2000", "charlie", "robert", "thomas", "hockey", "ranger",
    "daniel", "starwars", "klaster", "112233", "george", "computer", "michelle", "jessica", "pepper", "1111", "zxcvbn",
    "555555", "11111111", "131313", "freedom", "777777", "pass", "maggie", "159753", "aaaaaa", "ginger", "princess",
    "joshua", "cheese", "amanda", "summer", "love", "ashley", "nicole", "chelsea", "biteme", "matthew", "access",
    "yankees", "987654321", "dallas", "austin", "thunder", "taylor", "matrix", "passw0rd", "password1", "password123",
    "welcome", "welcome1", "admin", "admin123", "administrator", "raspberry", "changeme", "qwerty123", "iloveyou1",
    "1q2w3e4r", "1q2w3e4r5t", "qwe123", "secret", "abcdefgh", "abcdefghij", "letmein123", "passwort", "hallo123",
    "spotbox", "spot1234", "spotspot", "0123456789", "9876543210", "qwertzuiop", "azertyuiop", "football1",
];

pub const MIN_CHARS: usize = 10;

/// `Ok` or `weak_password` with the reason in words.
pub fn check(pw: &str, personal: &[&str]) -> Result<(), Error> {
    let weak = |why: &str| Err(Error::invalid("weak_password", why.to_owned()));
    if pw.chars().count() < MIN_CHARS {
        return weak("Use at least 10 characters: this password lets the admin in from anywhere on your network.");
    }
    chat::rules::password(pw)?;
    let lower = pw.to_lowercase();
    let core: String = lower.trim_end_matches(|c: char| c.is_ascii_digit() || "!?.".contains(c)).to_owned();
    if COMMON.contains(&lower.as_str()) || COMMON.contains(&core.as_str()) {
        return weak("That is one of the most common passwords; pick something less guessable.");
    }
    for p in personal {
        let p = p.trim().to_lowercase();
        if p.chars().count() >= 3 && lower.contains(&p) {
            return weak("Do not use the user name or the box's name in the password.");
        }
    }
    let distinct = {
        let mut c: Vec<char> = lower.chars().collect();
        c.sort_unstable();
        c.dedup();
        c.len()
    };
    if distinct < 5 {
        return weak("That password repeats a few characters; mix in more different ones.");
    }
    if is_sequence(&lower) {
        return weak("That password is a keyboard or number sequence; pick something less guessable.");
    }
    Ok(())
}

fn is_sequence(s: &str) -> bool {
    let b = s.as_bytes();
    let step = |d: i16| b.windows(2).all(|w| i16::from(w[1]) - i16::from(w[0]) == d);
    b.len() > 2 && (step(1) || step(-1))
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn weak_passwords_are_refused_with_reasons() {
        for (pw, why) in [
            ("short1!", "10 characters"),
            ("password123", "common"),
            ("Password1!", "common"),
            ("raspberry", "10 characters"),
            ("raspberry1", "common"),
            ("alice-is-great", "user name"),
            ("aaaaaaaaaaaa", "repeats"),
            ("abcdefghijklm", "sequence"),
        ] {
            let e = check(pw, &["alice", "spot"]).expect_err(pw);
            assert_eq!(e.code, "weak_password", "{pw}");
            assert!(e.message.contains(why), "{pw}: {}", e.message);
        }
        assert!(check("correct horse battery", &["alice", "Spot"]).is_ok());
        assert!(check("tR4m!pol1ne", &["alice"]).is_ok());
    }
}
