//! The second-order cone's Jordan algebra and its Nesterov-Todd scaling, for the interior
//! point's group cones t_j >= ||w_j||.
//!
//! A cone vector is x = (x0, x1) with x1 in R^d; it lies inside when x0 > ||x1||. The algebra
//! (Alizadeh and Goldfarb, "Second-order cone programming", 2003): the product
//! x o y = (x . y, x0 y1 + y0 x1) with identity e = (1, 0), det x = x0^2 - ||x1||^2, inverse
//! J x / det x (J = diag(1, -I)), square root, and the quadratic representation
//! P(x) = 2 x x^T - det(x) J. For x and s inside, the scaling point
//! w = P(x^1/2) (P(x^1/2) s)^-1/2 satisfies P(w^-1) x = s, so W = P(w^-1/2) maps x and s to
//! the same point lambda = W x = W^-1 s: the symmetric primal-dual scaling that lets one
//! Newton step treat the primal and the dual of a cone alike (Nesterov and Todd, 1998).

/// x0^2 - ||x1||^2.
pub fn det(x: &[f64]) -> f64 {
    x[0] * x[0] - x[1..].iter().map(|v| v * v).sum::<f64>()
}

/// J x / det x: the inverse in the algebra.
pub fn inverse(x: &[f64]) -> Vec<f64> {
    let d = det(x);
    std::iter::once(x[0] / d)
        .chain(x[1..].iter().map(|v| -v / d))
        .collect()
}

/// The square root inside the cone: y with y o y = x.
pub fn sqrt(x: &[f64]) -> Vec<f64> {
    let y0 = (0.5 * (x[0] + det(x).max(0.0).sqrt())).sqrt();
    std::iter::once(y0)
        .chain(x[1..].iter().map(|v| v / (2.0 * y0)))
        .collect()
}

/// x o y.
pub fn product(x: &[f64], y: &[f64]) -> Vec<f64> {
    let head = x.iter().zip(y).map(|(a, b)| a * b).sum();
    std::iter::once(head)
        .chain((1..x.len()).map(|a| x[0] * y[a] + y[0] * x[a]))
        .collect()
}

/// u with x o u = v (the arrow matrix of x inverted).
pub fn divide(x: &[f64], v: &[f64]) -> Vec<f64> {
    let cross: f64 = x[1..].iter().zip(&v[1..]).map(|(a, b)| a * b).sum();
    let u0 = (x[0] * v[0] - cross) / det(x);
    std::iter::once(u0)
        .chain((1..x.len()).map(|a| (v[a] - u0 * x[a]) / x[0]))
        .collect()
}

/// P(x) v = 2 x (x . v) - det(x) J v, without forming P(x).
pub fn quad(x: &[f64], v: &[f64]) -> Vec<f64> {
    let xv: f64 = x.iter().zip(v).map(|(a, b)| a * b).sum();
    let dx = det(x);
    std::iter::once(2.0 * x[0] * xv - dx * v[0])
        .chain((1..x.len()).map(|a| 2.0 * x[a] * xv + dx * v[a]))
        .collect()
}

/// The Nesterov-Todd scaling of a primal point x and dual point s, both inside the cone.
pub struct Scaling {
    /// w^-1 (the Hessian-like block is P(w^-1), with P(w^-1) x = s) and its det.
    w_inv: Vec<f64>,
    det_inv: f64,
    /// w^-1/2 (W) and w^1/2 (W^-1).
    root_inv: Vec<f64>,
    root: Vec<f64>,
    /// lambda = W x = W^-1 s.
    pub lambda: Vec<f64>,
}

impl Scaling {
    pub fn new(x: &[f64], s: &[f64]) -> Self {
        let h = sqrt(x);
        let w = quad(&h, &inverse(&sqrt(&quad(&h, s))));
        let w_inv = inverse(&w);
        let root_inv = sqrt(&w_inv);
        let root = sqrt(&w);
        let lambda = quad(&root_inv, x);
        Scaling {
            det_inv: det(&w_inv),
            w_inv,
            root_inv,
            root,
            lambda,
        }
    }

    /// Entry (a, b) of W^2 = P(w^-1), the block the cone adds to the Newton matrix.
    pub fn hessian(&self, a: usize, b: usize) -> f64 {
        let u = &self.w_inv;
        let j = match (a, b) {
            (0, 0) => 1.0,
            (a, b) if a == b => -1.0,
            _ => 0.0,
        };
        2.0 * u[a] * u[b] - self.det_inv * j
    }

    /// W^2 v = 2 w^-1 (w^-1 . v) - det(w^-1) J v (J = diag(1, -1, ..., -1)): `hessian` times
    /// v in O(d), not O(d^2).
    pub fn hessian_times(&self, v: &[f64]) -> Vec<f64> {
        let u = &self.w_inv;
        let uv = 2.0 * u.iter().zip(v).map(|(a, b)| a * b).sum::<f64>();
        (0..v.len())
            .map(|a| {
                let j = if a == 0 { v[0] } else { -v[a] };
                uv * u[a] - self.det_inv * j
            })
            .collect()
    }

    /// W v.
    pub fn scale(&self, v: &[f64]) -> Vec<f64> {
        quad(&self.root_inv, v)
    }

    /// W^-1 v.
    pub fn unscale(&self, v: &[f64]) -> Vec<f64> {
        quad(&self.root, v)
    }
}

/// The first alpha > 0 at which x + alpha dx leaves the cone's interior (infinity if never):
/// the smallest positive root of det(x + alpha dx) (det x > 0), or where x0 + alpha dx0
/// reaches 0.
pub fn step_to_boundary(x: &[f64], dx: &[f64]) -> f64 {
    let mut first = if dx[0] < 0.0 {
        -x[0] / dx[0]
    } else {
        f64::INFINITY
    };
    let qa = det(dx);
    let qb = 2.0 * (x[0] * dx[0] - x[1..].iter().zip(&dx[1..]).map(|(a, b)| a * b).sum::<f64>());
    let qc = det(x);
    let roots = if qa == 0.0 {
        [-qc / qb, f64::INFINITY]
    } else {
        let disc = qb * qb - 4.0 * qa * qc;
        if disc < 0.0 {
            [f64::INFINITY; 2]
        } else {
            // The stable pair of roots: q / qa and qc / q.
            let q = -0.5 * (qb + qb.signum() * disc.sqrt());
            [q / qa, qc / q]
        }
    };
    for root in roots {
        if root > 0.0 {
            first = first.min(root);
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    /// Inside points of R^4 from a fixed sequence.
    fn points() -> Vec<(Vec<f64>, Vec<f64>)> {
        vec![
            (vec![2.0, 0.3, -1.2, 0.5], vec![1.5, -0.7, 0.2, 1.1]),
            (vec![5.0, 4.9, 0.0, 0.1], vec![0.1, 0.0, 0.05, -0.02]),
            (vec![1.0, 0.0, 0.0, 0.0], vec![3.0, 1.0, 1.0, 1.0]),
        ]
    }

    #[test]
    fn the_scaling_maps_x_to_s_and_both_to_lambda() {
        for (x, s) in points() {
            let sc = Scaling::new(&x, &s);
            let n = x.len();
            let w2x: Vec<f64> = (0..n)
                .map(|a| (0..n).map(|b| sc.hessian(a, b) * x[b]).sum())
                .collect();
            assert!(close(&w2x, &s) < 1e-12, "W^2 x = s: {w2x:?} vs {s:?}");
            assert!(close(&sc.unscale(&s), &sc.lambda) < 1e-12, "W^-1 s = W x");
            assert!(close(&sc.unscale(&sc.scale(&x)), &x) < 1e-12);
        }
    }

    #[test]
    fn the_algebra_inverts_divides_and_takes_roots() {
        for (x, y) in points() {
            let e = [1.0, 0.0, 0.0, 0.0];
            assert!(close(&product(&x, &inverse(&x)), &e) < 1e-12);
            assert!(close(&product(&sqrt(&x), &sqrt(&x)), &x) < 1e-12);
            assert!(close(&product(&x, &divide(&x, &y)), &y) < 1e-12);
        }
    }

    #[test]
    fn the_step_stops_at_the_boundary() {
        // From (1, 0) towards (-1, 0): t reaches ||w|| = 0 at alpha = 1/2 (det = (1-2a)^2).
        assert!((step_to_boundary(&[1.0, 0.0], &[-2.0, 0.0]) - 0.5).abs() < 1e-12);
        // Sideways: (1, alpha) leaves at alpha = 1.
        assert!((step_to_boundary(&[1.0, 0.0], &[0.0, 1.0]) - 1.0).abs() < 1e-12);
        // Deeper into the cone: never.
        assert_eq!(step_to_boundary(&[1.0, 0.0], &[1.0, 0.5]), f64::INFINITY);
    }
}
