//! rocserv-auth
