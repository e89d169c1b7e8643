//! (module under construction on its own branch)
