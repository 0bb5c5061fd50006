//! Picking operations by the mix's weights: for all users, or for the users of one role.

use super::{Mix, Op, Role};

impl Mix {
    /// A picker over the weights: `pick(u)` with `u` uniform in [0, 1).
    pub fn picker(&self) -> OpPicker {
        self.picker_of(|_| true)
    }

    /// A picker over the operations `role` sends, in their weights' proportions (empty when
    /// the mix gives that role nothing: it then picks a category browse).
    pub fn picker_for(&self, role: Role) -> OpPicker {
        self.picker_of(|op| op.role() == role)
    }

    fn picker_of(&self, keep: impl Fn(Op) -> bool) -> OpPicker {
        let kept: Vec<(Op, f64)> = Op::ALL
            .iter()
            .map(|op| {
                (
                    *op,
                    if keep(*op) {
                        self.weights.get(*op)
                    } else {
                        0.0
                    },
                )
            })
            .collect();
        let total: f64 = kept.iter().map(|(_, w)| w).sum();
        let mut cumulative = Vec::new();
        let mut sum = 0.0;
        for (op, w) in kept {
            if w > 0.0 {
                sum += w / total;
                cumulative.push((sum, op));
            }
        }
        OpPicker { cumulative }
    }

    /// Each role's share of the mix's requests, in [`Role::ALL`] order: the share of users
    /// who have that role when every user is one staff member (see `scenario`).
    pub fn role_shares(&self) -> [f64; 3] {
        let mut shares = [0.0; 3];
        for (op, share) in self.weights.shares() {
            let i = Role::ALL.iter().position(|r| *r == op.role()).unwrap_or(0);
            shares[i] += share;
        }
        shares
    }
}

/// Picks an operation by weight.
#[derive(Debug, Clone)]
pub struct OpPicker {
    /// Running sums of the shares (ending at 1), with the operation each step belongs to.
    cumulative: Vec<(f64, Op)>,
}

impl OpPicker {
    pub fn pick(&self, u: f64) -> Op {
        let i = self.cumulative.partition_point(|(sum, _)| *sum <= u);
        // Rounding may leave the last sum a hair under 1.
        self.cumulative
            .get(i)
            .or(self.cumulative.last())
            .map_or(Op::BrowseCategory, |(_, op)| *op)
    }
}
