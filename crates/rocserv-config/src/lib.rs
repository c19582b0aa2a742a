//! rocserv-config
