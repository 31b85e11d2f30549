"""The official account: what it answers to messages and events, its menu and QR entry
points, and the WeChat identities (openids) bound to learner accounts."""
