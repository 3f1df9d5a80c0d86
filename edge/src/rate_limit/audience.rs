//! Who is asking, as far as the shop-wide budgets go: anonymous clients, signed-in shoppers, or
//! the shop's admins. Each has a budget the others cannot spend.
//!
//! A shop-wide ceiling guards the origin, and whoever can spend it can refuse everyone who
//! shares it. Forty anonymous addresses could once spend the whole `shop_read` ceiling in a
//! minute and leave the owner's console (and shoppers' lists) answered 429 for the rest of it.
//! So anonymous reads and signed-in shoppers' reads count against ceilings of their own
//! (`shop_read`, `shop_signed_in_read`), and admin routes against none: each admin has a
//! generous quota of their own (`admin`, per class). Signing in costs an identity the shop's
//! provider issued, and admin routes need the shop's admin role, so neither budget is open to
//! an anonymous flood. An admin's token makes its requests an admin's on any route (the console's
//! item list, the shop's profile), so shoppers filling their ceilings cannot refuse the owner.

use super::fields::Scope;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    Anonymous,
    SignedIn,
    /// The shop's admin, with a verified admin token of the shop.
    Admin,
    /// An admin uploading a picture.
    Uploader,
}

impl Audience {
    /// The audience of a request made by the shop's admin (on an admin route, or with a
    /// verified admin token of this shop) or not, with a verified token or without.
    pub fn of(admin: bool, signed_in: bool) -> Self {
        match (admin, signed_in) {
            (true, _) => Self::Admin,
            (false, true) => Self::SignedIn,
            (false, false) => Self::Anonymous,
        }
    }

    /// Whose quota the caller's own is: a client's, or an admin's.
    pub fn own_scope(self) -> Scope {
        match self {
            Self::Admin => Scope::Admin,
            Self::Uploader => Scope::Upload,
            Self::Anonymous | Self::SignedIn => Scope::Client,
        }
    }

    /// The shop-wide ceiling this audience's reads that reach the origin count against.
    pub fn read_ceiling(self) -> Option<Scope> {
        match self {
            Self::Anonymous => Some(Scope::Shop),
            Self::SignedIn => Some(Scope::SignedIn),
            Self::Admin | Self::Uploader => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_audience_spends_its_own_budget() {
        assert_eq!(Audience::of(false, false).read_ceiling(), Some(Scope::Shop));
        assert_eq!(
            Audience::of(false, true).read_ceiling(),
            Some(Scope::SignedIn)
        );
        let admin = Audience::of(true, true);
        assert_eq!(admin.read_ceiling(), None, "admins have no shop ceiling");
        assert_eq!(admin.own_scope(), Scope::Admin);
        assert_eq!(Audience::SignedIn.own_scope(), Scope::Client);
    }
}
