//! Which licenses and agreements archiving or unarchiving a license takes
//! along, decided over the customer's license graph (each license's
//! archive state and agreement, the base/upgrade links, the agreements'
//! archive groups) loaded once, instead of walking links with a query
//! per step.

use std::collections::{BTreeSet, HashMap};

use uuid::Uuid;

/// One license, as archiving sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LicenseNode {
    pub archived: bool,
    /// The group it was archived with (archived licenses only).
    pub archive_group: Option<Uuid>,
    /// The agreement it belongs to (none while archived: it left it).
    pub agreement: Option<Uuid>,
}

/// A customer's licenses and how they connect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    pub licenses: HashMap<Uuid, LicenseNode>,
    /// Upgrade and base license of every link.
    pub links: Vec<(Uuid, Uuid)>,
    /// The archive group of each archived agreement that has one.
    pub archived_agreements: HashMap<Uuid, Uuid>,
}

impl Graph {
    fn archived(&self, id: Uuid) -> bool {
        self.licenses
            .get(&id)
            .is_some_and(|license| license.archived)
    }

    /// Each license's bases and upgrades, indexed once per decision so a
    /// walk costs the links it follows, not all links per step.
    fn adjacency(&self) -> HashMap<Uuid, Vec<Uuid>> {
        let mut adjacent: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for &(upgrade, base) in &self.links {
            adjacent.entry(upgrade).or_default().push(base);
            adjacent.entry(base).or_default().push(upgrade);
        }
        adjacent
    }
}

/// The licenses linked to `id` in `adjacent` (its bases and upgrades).
fn neighbours(adjacent: &HashMap<Uuid, Vec<Uuid>>, id: Uuid) -> impl Iterator<Item = Uuid> + '_ {
    adjacent.get(&id).into_iter().flatten().copied()
}

/// `set` grown by every license reachable through links whose licenses
/// pass `take`.
fn close_over(
    adjacent: &HashMap<Uuid, Vec<Uuid>>,
    set: &mut BTreeSet<Uuid>,
    take: impl Fn(Uuid) -> bool,
) {
    let mut frontier: Vec<Uuid> = set.iter().copied().collect();
    while let Some(id) = frontier.pop() {
        for other in neighbours(adjacent, id) {
            if take(other) && set.insert(other) {
                frontier.push(other);
            }
        }
    }
}

/// Why a license cannot be archived or unarchived as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Archiving a license archived already.
    Archived,
    /// Unarchiving a license that is not archived.
    Live,
    /// Base or upgrade licenses archived too, which must come back with it.
    ConnectedLeftOut(Vec<Uuid>),
}

/// What archiving a license does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Archive {
    /// The licenses archived (not archived before), in id order.
    pub licenses: Vec<Uuid>,
    /// The agreements archived with them, in id order.
    pub agreements: Vec<Uuid>,
    /// Upgrades left behind, which lose their base and become incomplete.
    pub left_incomplete: Vec<Uuid>,
}

/// Archiving license `id`: with `connected`, every license reachable
/// through base/upgrade links goes too; with `agreement`, the agreements
/// of all of those, with their other licenses.
pub fn archive(
    graph: &Graph,
    id: Uuid,
    connected: bool,
    agreement: bool,
) -> Result<Archive, Refusal> {
    if graph.archived(id) {
        return Err(Refusal::Archived);
    }
    let adjacent = graph.adjacency();
    let mut set = BTreeSet::from([id]);
    if connected {
        close_over(&adjacent, &mut set, |_| true);
    }
    let mut agreements = BTreeSet::new();
    if agreement {
        agreements = set
            .iter()
            .filter_map(|license| graph.licenses.get(license)?.agreement)
            .collect();
        set.extend(
            graph
                .licenses
                .iter()
                .filter(|(_, license)| {
                    license
                        .agreement
                        .is_some_and(|agreement| agreements.contains(&agreement))
                })
                .map(|(id, _)| *id),
        );
    }
    let licenses: BTreeSet<Uuid> = set
        .iter()
        .copied()
        .filter(|license| !graph.archived(*license))
        .collect();
    let left_incomplete: BTreeSet<Uuid> = graph
        .links
        .iter()
        .filter(|(upgrade, base)| licenses.contains(base) && !set.contains(upgrade))
        .map(|(upgrade, _)| *upgrade)
        .collect();
    Ok(Archive {
        licenses: licenses.into_iter().collect(),
        agreements: agreements.into_iter().collect(),
        left_incomplete: left_incomplete.into_iter().collect(),
    })
}

/// What unarchiving a license does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unarchive {
    /// The licenses unarchived, in id order.
    pub licenses: Vec<Uuid>,
    /// The agreements archived with them in one group, which come back.
    pub group_agreements: Vec<Uuid>,
}

/// Unarchiving license `id`: with `together`, everything archived in the
/// same step comes back (licenses and agreements); with `connected`,
/// every archived license reachable through base/upgrade links. Base and
/// upgrade licenses come back together or not at all.
pub fn unarchive(
    graph: &Graph,
    id: Uuid,
    together: bool,
    connected: bool,
) -> Result<Unarchive, Refusal> {
    let Some(license) = graph.licenses.get(&id).filter(|license| license.archived) else {
        return Err(Refusal::Live);
    };
    let mut set = BTreeSet::from([id]);
    let mut group_agreements = BTreeSet::new();
    if together && let Some(group) = license.archive_group {
        set.extend(
            graph
                .licenses
                .iter()
                .filter(|(_, other)| other.archived && other.archive_group == Some(group))
                .map(|(id, _)| *id),
        );
        group_agreements = graph
            .archived_agreements
            .iter()
            .filter(|(_, archived_with)| **archived_with == group)
            .map(|(agreement, _)| *agreement)
            .collect();
    }
    let adjacent = graph.adjacency();
    if connected {
        close_over(&adjacent, &mut set, |other| graph.archived(other));
    }
    let left_out: BTreeSet<Uuid> = set
        .iter()
        .flat_map(|license| neighbours(&adjacent, *license))
        .filter(|other| graph.archived(*other) && !set.contains(other))
        .collect();
    if !left_out.is_empty() {
        return Err(Refusal::ConnectedLeftOut(left_out.into_iter().collect()));
    }
    Ok(Unarchive {
        licenses: set.into_iter().collect(),
        group_agreements: group_agreements.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// Licenses 1..=6: 2 upgrades 1, 3 upgrades 2 (a chain), 5 upgrades 4;
    /// 1 and 6 in agreement 100, 4 in agreement 101.
    fn graph() -> Graph {
        let mut licenses = HashMap::new();
        for n in 1..=6 {
            licenses.insert(id(n), LicenseNode::default());
        }
        licenses.get_mut(&id(1)).unwrap().agreement = Some(id(100));
        licenses.get_mut(&id(6)).unwrap().agreement = Some(id(100));
        licenses.get_mut(&id(4)).unwrap().agreement = Some(id(101));
        Graph {
            licenses,
            links: vec![(id(2), id(1)), (id(3), id(2)), (id(5), id(4))],
            archived_agreements: HashMap::new(),
        }
    }

    fn ids(ns: &[u128]) -> Vec<Uuid> {
        ns.iter().map(|n| id(*n)).collect()
    }

    /// (license, connected, agreement, archived, agreements, left
    /// incomplete)
    type ArchiveCase = (
        u128,
        bool,
        bool,
        &'static [u128],
        &'static [u128],
        &'static [u128],
    );

    /// (license, together, connected, Ok(licenses, agreements) or the
    /// connected licenses left out)
    type UnarchiveCase = (
        u128,
        bool,
        bool,
        Result<(&'static [u128], &'static [u128]), &'static [u128]>,
    );

    #[test]
    fn archiving_takes_along_what_its_options_say() {
        let graph = graph();
        let table: &[ArchiveCase] = &[
            (1, false, false, &[1], &[], &[2]),
            (2, false, false, &[2], &[], &[3]),
            (3, false, false, &[3], &[], &[]),
            (2, true, false, &[1, 2, 3], &[], &[]),
            (1, false, true, &[1, 6], &[100], &[2]),
            (3, true, true, &[1, 2, 3, 6], &[100], &[]),
            (5, true, true, &[4, 5], &[101], &[]),
            (6, false, false, &[6], &[], &[]),
        ];
        for &(license, connected, agreement, archived, agreements, left) in table {
            let plan = archive(&graph, id(license), connected, agreement).expect("archivable");
            assert_eq!(
                plan,
                Archive {
                    licenses: ids(archived),
                    agreements: ids(agreements),
                    left_incomplete: ids(left),
                },
                "license {license}, connected {connected}, agreement {agreement}"
            );
        }
    }

    #[test]
    fn licenses_archived_before_are_neither_archived_again_nor_left_incomplete() {
        let mut graph = graph();
        graph.licenses.get_mut(&id(3)).unwrap().archived = true;
        let plan = archive(&graph, id(1), true, false).expect("archivable");
        assert_eq!(plan.licenses, ids(&[1, 2]));
        assert_eq!(plan.left_incomplete, Vec::<Uuid>::new());
        assert_eq!(archive(&graph, id(3), false, false), Err(Refusal::Archived));
    }

    /// The graph after archiving 1 with its connected licenses and its
    /// agreement (group 900), and 5 on its own later (group 901).
    fn archived_graph() -> Graph {
        let mut graph = graph();
        for (n, group) in [(1, 900), (2, 900), (3, 900), (6, 900), (5, 901)] {
            let license = graph.licenses.get_mut(&id(n)).unwrap();
            license.archived = true;
            license.archive_group = Some(id(group));
            license.agreement = None;
        }
        graph.archived_agreements.insert(id(100), id(900));
        graph
    }

    #[test]
    fn unarchiving_brings_back_its_group_and_its_connected_licenses() {
        let graph = archived_graph();
        let table: &[UnarchiveCase] = &[
            // Base and upgrades come back together or not at all.
            (1, false, false, Err(&[2])),
            (2, false, false, Err(&[1, 3])),
            (6, false, false, Ok((&[6], &[]))),
            (1, false, true, Ok((&[1, 2, 3], &[]))),
            (1, true, false, Ok((&[1, 2, 3, 6], &[100]))),
            (3, true, true, Ok((&[1, 2, 3, 6], &[100]))),
            // 5's base 4 was never archived.
            (5, true, true, Ok((&[5], &[]))),
        ];
        for &(license, together, connected, expected) in table {
            let got = unarchive(&graph, id(license), together, connected);
            let expected = expected
                .map(|(licenses, agreements)| Unarchive {
                    licenses: ids(licenses),
                    group_agreements: ids(agreements),
                })
                .map_err(|left_out| Refusal::ConnectedLeftOut(ids(left_out)));
            assert_eq!(
                got, expected,
                "license {license}, together {together}, connected {connected}"
            );
        }
        assert_eq!(unarchive(&graph, id(4), true, true), Err(Refusal::Live));
        assert_eq!(
            unarchive(&graph, id(99), true, true),
            Err(Refusal::Live),
            "unknown"
        );
    }
}
