//! The orchestrator: the whole flow, stage by stage. Commands call these.
