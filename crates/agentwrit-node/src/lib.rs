//! test
#![deny(unsafe_code)]
#![deny(missing_docs)]
use napi_derive::napi;

/// A.
#[napi]
pub fn scope_is_subset(requested: Vec<String>, allowed: Vec<String>) -> bool {
    agentwrit_bindings::scope_is_subset(&requested, &allowed)
}

/// B.
#[napi]
pub struct Foo {
    x: u32,
}

#[napi]
impl Foo {
    /// C.
    #[napi(constructor)]
    pub fn new(x: u32) -> Self {
        Foo { x }
    }
    /// D.
    #[napi(getter)]
    pub fn x(&self) -> u32 {
        self.x
    }
}
