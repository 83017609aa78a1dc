//! Raw-socket peers for what SIPp cannot stage (retransmissions on demand).
