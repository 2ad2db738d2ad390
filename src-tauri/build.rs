//! Build script: only the GUI build needs Tauri's code generation.
fn main() {
    #[cfg(feature = "gui")]
    tauri_build::build();
}
