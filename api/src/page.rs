//! Page sizes of the listings: one rule that the edge and the origin both apply.
//!
//! The edge checks an inventory page's `limit` before it looks in its cache and the origin
//! checks it again; each listing's bounds are declared once here so the two refuse the same
//! requests with the same words.

/// How many rows one page of a listing carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit {
    /// When the caller names no `limit`.
    pub default: i64,
    /// The most one page may carry.
    pub max: i64,
}

impl PageLimit {
    /// The page size for the `limit` the caller named, or the default; outside `1..=max`, the
    /// problem's detail.
    pub fn check(self, limit: Option<i64>) -> Result<i64, String> {
        let limit = limit.unwrap_or(self.default);
        if (1..=self.max).contains(&limit) {
            Ok(limit)
        } else {
            Err(format!("limit must be between 1 and {}", self.max))
        }
    }

    /// As `check`, for a `limit` still as the query string gives it: a non-number is refused
    /// with the same detail as a number out of range.
    pub fn parse(self, limit: Option<&str>) -> Result<i64, String> {
        match limit.map(str::parse::<i64>) {
            None => self.check(None),
            Some(Ok(limit)) => self.check(Some(limit)),
            Some(Err(_)) => self.check(Some(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PageLimit;

    const PAGE: PageLimit = PageLimit {
        default: 50,
        max: 200,
    };

    #[test]
    fn no_limit_is_the_default_and_the_bounds_are_inclusive() {
        assert_eq!(PAGE.check(None), Ok(50));
        assert_eq!(PAGE.check(Some(1)), Ok(1));
        assert_eq!(PAGE.check(Some(200)), Ok(200));
        assert_eq!(PAGE.parse(Some("200")), Ok(200));
        assert_eq!(PAGE.parse(None), Ok(50));
    }

    #[test]
    fn out_of_range_or_not_a_number_is_refused_with_the_bounds() {
        let refused = Err("limit must be between 1 and 200".to_owned());
        assert_eq!(PAGE.check(Some(0)), refused);
        assert_eq!(PAGE.check(Some(201)), refused);
        assert_eq!(PAGE.check(Some(-1)), refused);
        assert_eq!(PAGE.parse(Some("201")), refused);
        assert_eq!(PAGE.parse(Some("ten")), refused);
        assert_eq!(PAGE.parse(Some("")), refused);
    }
}
