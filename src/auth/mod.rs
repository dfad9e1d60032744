//! Credentials: parsing them from requests, checking secrets with Argon2id off the async
//! threads, and finding the caller's source address.

pub mod credentials;
pub mod jose;
pub mod limiter;
pub mod random;
pub mod sealing;
pub mod secrets;
pub mod signature;
pub mod source;

pub use credentials::Credentials;
pub use secrets::{SecretHasher, Verification};
