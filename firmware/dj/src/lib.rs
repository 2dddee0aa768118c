//! The shared DJ core (sans-IO).
