//! The exemplar blueprint and the shared templates are embedded in the binary (`include_dir!` in
//! `src/blueprint/source.rs`); rebuild when they change, which the macro cannot tell cargo on stable Rust.
fn main() {
    println!("cargo:rerun-if-changed=blueprints/exemplar-epr");
    println!("cargo:rerun-if-changed=templates");
}
