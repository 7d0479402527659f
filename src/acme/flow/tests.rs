//! Scripted exchanges with a fake CA.
