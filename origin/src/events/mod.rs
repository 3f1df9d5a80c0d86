//! Committed facts, announced to every origin process: the channel names and payloads
//! (`channels`), and the process-wide fan-out of what arrives on them (`hub`) to the shop's
//! event streams and the admins' live sale view. It sits below the features that write the
//! facts (`purchase`, `admin`, `live_sale`) and those that read them (`shop`, `live_sale`).

pub mod channels;
pub mod hub;
pub mod shop_event;
