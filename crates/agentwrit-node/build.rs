//! Link settings for a Node-API module (on macOS, Node's symbols are
//! resolved when the module is loaded).
fn main() {
    napi_build::setup();
}
