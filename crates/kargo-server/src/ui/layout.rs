//! The pipeline graph's layout: a layered (Sugiyama-style) placement
//! behind the [`Layout`] trait. Layers by longest path from the sources
//! (cycles broken by ignoring the edges Kahn's algorithm cannot place),
//! order within a layer by barycenter sweeps down and up with ties kept
//! in input order, then coordinates left to right: each node as close to
//! the mean of its predecessors as the nodes above it allow. The result
//! depends only on the node ids, sizes and edges, so a change of status
//! never moves a node.

/// A node to place: its size.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Size {
    pub w: f64,
    pub h: f64,
}

/// A graph to lay out: nodes by index, edges from upstream to downstream.
#[derive(Clone, Debug, Default)]
pub(crate) struct Graph {
    pub sizes: Vec<Size>,
    pub edges: Vec<(usize, usize)>,
}

/// A placed node: top-left corner, size and layer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Placed {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub layer: usize,
}

/// Where every node goes, and the drawing's extent.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Laid {
    pub nodes: Vec<Placed>,
    pub width: f64,
    pub height: f64,
}

/// A layout algorithm.
pub(crate) trait Layout {
    fn layout(&self, g: &Graph) -> Laid;
}

/// The layered layout, left to right.
pub(crate) struct Layered {
    /// Horizontal gap between layers.
    pub rank_sep: f64,
    /// Vertical gap between nodes of a layer.
    pub node_sep: f64,
    /// Barycenter sweeps (each one down and one up).
    pub sweeps: usize,
}

impl Default for Layered {
    fn default() -> Self {
        Layered {
            rank_sep: 90.0,
            node_sep: 24.0,
            sweeps: 4,
        }
    }
}

/// Layer of each node: the longest path from a source.
fn layers(g: &Graph) -> Vec<usize> {
    let n = g.sizes.len();
    let mut indeg = vec![0usize; n];
    for &(a, b) in &g.edges {
        if a != b && a < n && b < n {
            indeg[b] += 1;
        }
    }
    let mut layer = vec![0usize; n];
    let mut done = vec![false; n];
    let mut queue: std::collections::VecDeque<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    loop {
        while let Some(v) = queue.pop_front() {
            done[v] = true;
            for &(a, b) in &g.edges {
                if a == v && b != v && b < n && !done[b] {
                    layer[b] = layer[b].max(layer[v] + 1);
                    indeg[b] -= 1;
                    if indeg[b] == 0 {
                        queue.push_back(b);
                    }
                }
            }
        }
        // A cycle: release its first unplaced node (its remaining
        // incoming edges are ignored).
        match (0..n).find(|&i| !done[i]) {
            Some(i) => {
                indeg[i] = 0;
                queue.push_back(i);
            }
            None => break,
        }
    }
    layer
}

impl Layout for Layered {
    fn layout(&self, g: &Graph) -> Laid {
        let n = g.sizes.len();
        let layer = layers(g);
        let depth = layer.iter().copied().max().map_or(0, |d| d + 1);
        let mut rows: Vec<Vec<usize>> = vec![Vec::new(); depth];
        for i in 0..n {
            rows[layer[i]].push(i);
        }
        // Position of each node within its layer.
        let mut pos = vec![0f64; n];
        let set_pos = |rows: &Vec<Vec<usize>>, pos: &mut Vec<f64>| {
            for row in rows {
                for (k, &v) in row.iter().enumerate() {
                    pos[v] = k as f64;
                }
            }
        };
        set_pos(&rows, &mut pos);
        let neighbours = |v: usize, up: bool| -> Vec<usize> {
            g.edges
                .iter()
                .filter_map(|&(a, b)| match up {
                    true if b == v && a != v && layer[a] < layer[v] => Some(a),
                    false if a == v && a != b && layer[b] > layer[v] => Some(b),
                    _ => None,
                })
                .collect()
        };
        for _ in 0..self.sweeps {
            for (up, order) in [
                (true, (1..depth).collect::<Vec<_>>()),
                (false, (0..depth.saturating_sub(1)).rev().collect()),
            ] {
                for l in order {
                    let mut keyed: Vec<(f64, usize)> = rows[l]
                        .iter()
                        .map(|&v| {
                            let ns = neighbours(v, up);
                            let bc = if ns.is_empty() {
                                pos[v]
                            } else {
                                ns.iter().map(|&u| pos[u]).sum::<f64>() / ns.len() as f64
                            };
                            (bc, v)
                        })
                        .collect();
                    // Stable: ties keep the current order.
                    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
                    rows[l] = keyed.into_iter().map(|(_, v)| v).collect();
                    for (k, &v) in rows[l].iter().enumerate() {
                        pos[v] = k as f64;
                    }
                }
            }
        }
        // Coordinates: x by layer, y by order pulled towards predecessors.
        let mut placed: Vec<Placed> = (0..n)
            .map(|i| Placed {
                x: 0.0,
                y: 0.0,
                w: g.sizes[i].w,
                h: g.sizes[i].h,
                layer: layer[i],
            })
            .collect();
        let mut x = 0.0;
        let mut height: f64 = 0.0;
        for row in &rows {
            let col_w = row.iter().map(|&v| g.sizes[v].w).fold(0.0, f64::max);
            let mut bottom = 0.0f64;
            for (k, &v) in row.iter().enumerate() {
                let preds = neighbours(v, true);
                let want = if preds.is_empty() {
                    bottom
                } else {
                    let c = preds
                        .iter()
                        .map(|&u| placed[u].y + placed[u].h / 2.0)
                        .sum::<f64>()
                        / preds.len() as f64;
                    c - placed[v].h / 2.0
                };
                let min = if k == 0 { 0.0 } else { bottom + self.node_sep };
                placed[v].y = want.max(min);
                placed[v].x = x;
                bottom = placed[v].y + placed[v].h;
            }
            height = height.max(bottom);
            x += col_w + self.rank_sep;
        }
        Laid {
            nodes: placed,
            width: (x - self.rank_sep).max(0.0),
            height,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(n: usize, edges: &[(usize, usize)]) -> Graph {
        Graph {
            sizes: (0..n)
                .map(|i| Size {
                    w: 200.0,
                    h: if i % 2 == 0 { 90.0 } else { 120.0 },
                })
                .collect(),
            edges: edges.to_vec(),
        }
    }

    fn overlap(a: &Placed, b: &Placed) -> bool {
        a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
    }

    fn check(g: &Graph) -> Laid {
        let laid = Layered::default().layout(g);
        for (i, a) in laid.nodes.iter().enumerate() {
            for b in &laid.nodes[i + 1..] {
                assert!(!overlap(a, b), "{a:?} overlaps {b:?}");
            }
            assert!(a.x + a.w <= laid.width + 0.01 && a.y + a.h <= laid.height + 0.01);
        }
        laid
    }

    #[test]
    fn the_quick_start_fans_out_and_in_left_to_right() {
        // warehouse 0 -> dev 1 -> staging-us 2, staging-eu 3 -> prod-us 4
        let g = graph(5, &[(0, 1), (1, 2), (1, 3), (2, 4), (3, 4)]);
        let laid = check(&g);
        for &(a, b) in &g.edges {
            assert!(
                laid.nodes[a].x + laid.nodes[a].w < laid.nodes[b].x,
                "edge {a}->{b} goes upstream to downstream"
            );
        }
        let l: Vec<usize> = laid.nodes.iter().map(|p| p.layer).collect();
        assert_eq!(l, [0, 1, 2, 2, 3]);
        // prod-us sits between its two upstreams.
        let mid = |i: usize| laid.nodes[i].y + laid.nodes[i].h / 2.0;
        assert!(mid(4) >= mid(2).min(mid(3)) && mid(4) <= mid(2).max(mid(3)));
    }

    #[test]
    fn a_hundred_stages_in_parallel_pipelines_never_overlap() {
        let mut edges = Vec::new();
        // 10 warehouses, each feeding a chain of 10 stages with a fan-out.
        for w in 0..10 {
            let base = 10 + w * 10;
            edges.push((w, base));
            for k in 0..9 {
                edges.push((base + k / 2, base + k + 1));
            }
        }
        let g = graph(110, &edges);
        let laid = check(&g);
        for &(a, b) in &g.edges {
            assert!(laid.nodes[a].x < laid.nodes[b].x);
        }
    }

    #[test]
    fn positions_depend_only_on_topology() {
        let g = graph(5, &[(0, 1), (1, 2), (1, 3), (2, 4), (3, 4)]);
        assert_eq!(
            Layered::default().layout(&g),
            Layered::default().layout(&g.clone())
        );
    }

    #[test]
    fn a_cycle_still_lays_out() {
        let g = graph(3, &[(0, 1), (1, 2), (2, 1)]);
        let laid = check(&g);
        assert_eq!(laid.nodes.len(), 3);
    }

    #[test]
    fn crossings_are_undone_by_the_sweeps() {
        // Two chains given in crossed order: 0->3, 1->2.
        let g = graph(4, &[(0, 3), (1, 2)]);
        let laid = check(&g);
        let above = |a: usize, b: usize| laid.nodes[a].y < laid.nodes[b].y;
        assert_eq!(above(0, 1), above(3, 2), "no crossing");
    }
}
