//! How messages and hints name the directions of a [`DefaultDeny`] (what it denies is the SDK's
//! business: `ws3_policy_sdk::shape::DefaultDeny`).

use ws3_policy_sdk::shape::DefaultDeny;

/// The directions set, in words: `ingress and egress`, `ingress`, `egress` or `nothing`.
pub(crate) fn words(d: DefaultDeny) -> &'static str {
    match (d.ingress, d.egress) {
        (true, true) => "ingress and egress",
        (true, false) => "ingress",
        (false, true) => "egress",
        (false, false) => "nothing",
    }
}

/// A name for a policy that denies the directions set.
pub(crate) fn policy_name(d: DefaultDeny) -> &'static str {
    match (d.ingress, d.egress) {
        (true, false) => "default-deny-ingress",
        (false, true) => "default-deny-egress",
        _ => "default-deny",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_names_follow_the_directions() {
        let both = DefaultDeny {
            ingress: true,
            egress: true,
        };
        let egress = DefaultDeny {
            ingress: false,
            egress: true,
        };
        assert_eq!(words(both), "ingress and egress");
        assert_eq!(words(egress), "egress");
        assert_eq!(words(both.minus(egress)), "ingress");
        assert_eq!(words(egress.missing()), "ingress");
        assert_eq!(words(DefaultDeny::default()), "nothing");
        assert_eq!(policy_name(egress), "default-deny-egress");
        assert_eq!(policy_name(egress.missing()), "default-deny-ingress");
        assert_eq!(policy_name(both), "default-deny");
    }
}
