//! `spot-helper apply-preset`: what Raspberry Pi Imager left on the boot partition (written
//! by the Imager work; a stub until then).

pub fn run() -> anyhow::Result<()> {
    Ok(())
}
