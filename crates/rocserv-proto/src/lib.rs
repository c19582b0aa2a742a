//! rocserv-proto
