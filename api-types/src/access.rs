//! `/access` wire types.

use serde::{Deserialize, Serialize};

/// Successful `POST /access/ticket`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketInfo {
    pub username: String,
    pub ticket: String,
    #[serde(rename = "CSRFPreventionToken")]
    pub csrf_prevention_token: String,
    pub cap: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clustername: Option<String>,
}

/// `POST /access/users/{userid}/token/{tokenid}`: the secret is shown once, here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewToken {
    #[serde(rename = "full-tokenid")]
    pub full_tokenid: String,
    pub info: TokenInfo,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub expire: i64,
    #[serde(with = "crate::pve_bool")]
    pub privsep: bool,
}
