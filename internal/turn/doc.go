// Package turn runs FedWave's embedded TURN server (RFC 8656) on top of
// pion/turn, and issues the time-limited credentials browsers use with it.
//
// Credentials follow the TURN REST API scheme
// (draft-uberti-behave-turn-rest-00): the username is "expiry:userid"
// (userid is "anon" or "u" and an account id, never a secret) and the
// password is base64(HMAC-SHA1(secret, username)), so the web layer can hand
// out credentials without telling the TURN server about them, and an external
// coturn configured with the same static-auth-secret accepts them too.
//
// What this package adds to pion/turn is policy:
//
//   - a peer filter that refuses relaying to anything but public unicast
//     addresses, including the IPv4-mapped, IPv4-compatible, NAT64 and 6to4
//     spellings of private and loopback addresses (the coturn
//     CVE-2020-26262 class of bypass), checked when a permission or channel
//     is created and again on every datagram the relay sends to a peer;
//   - quotas on concurrent allocations: per client address (IPv4 address
//     or IPv6 /64) for everyone, a smaller share of it for anonymous
//     credentials, and per user for signed-in ones (see Limits);
//   - anonymous credentials ("expiry:anon", see Anonymous) relay only to
//     this server's own media port (Config.MediaPeers): viewers get what
//     they need, and nobody gets an open relay without an account;
//   - no TCP relays (RFC 6062): browsers never ask for them, and an outgoing
//     TCP connection is the most useful thing a TURN server can give an
//     attacker.
package turn
