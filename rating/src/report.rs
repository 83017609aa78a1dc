//! `report.html`: the billing team's page for a month.

use crate::run::{Inputs, MonthRating};

/// Renders the report.
pub fn render(rating: &MonthRating, _inputs: &Inputs) -> String {
    format!("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Rating {}</title></head><body></body></html>\n", rating.month)
}
