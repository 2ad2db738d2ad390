//! Start at login: an XDG autostart entry (`~/.config/autostart/porch.desktop`) that runs
//! `porch` (the program that started this shell, named in its environment). Linux only; elsewhere it reports "off" and refuses to switch on.
//!
//! Ownership: the one file. Concurrency: called from commands, one small file write.

use std::path::PathBuf;

fn entry_path() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("autostart").join("porch.desktop"))
}

/// Whether the autostart entry exists.
pub(crate) fn enabled() -> bool {
    cfg!(target_os = "linux") && entry_path().is_some_and(|p| p.is_file())
}

/// Writes or removes the entry.
pub(crate) fn set(on: bool) -> std::io::Result<()> {
    if !cfg!(target_os = "linux") {
        return Err(std::io::Error::other("only supported on Linux desktops"));
    }
    let path = entry_path().ok_or_else(|| std::io::Error::other("no home folder"))?;
    if !on {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        };
    }
    let exe = std::env::var_os(porch::desktop::child::ENV_PROGRAM)
        .map(std::path::PathBuf::from)
        .ok_or_else(|| std::io::Error::other("the shell was not started by porch (no PORCH_PROGRAM)"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Exec keys quote with double quotes; a path with quotes or backslashes is escaped.
    let exe = exe.display().to_string().replace('\\', "\\\\").replace('"', "\\\"");
    std::fs::write(
        &path,
        format!(
            "[Desktop Entry]\nType=Application\nName=Porch\nComment=Share your data-science work on the local network\nExec=\"{exe}\"\nX-GNOME-Autostart-enabled=true\n"
        ),
    )
}
