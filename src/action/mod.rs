//! The GitHub Action's last step: reads what the earlier steps wrote
//! (`model`), decides what passed and failed (`report`), and renders the
//! job summary, annotations and outputs (`render`).

mod model;
mod render;
mod report;

pub use model::*;
pub use render::{annotations, outputs, summary};
pub use report::*;
