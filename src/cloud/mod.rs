//! The local cloud: an embedded Azure Resource Manager that speaks ARM's real REST protocol.
