//! Small builders for worked estates: each test states only what its rule
//! needs, everything else takes a plain default.

use estate_compliance::{
    Application, Assignment, AssignmentType, Computer, Consumer, Estate, Exclusion, Installation,
    License, Metric, Node, Quantity, Target, Usage, User, Validity, calculate,
};

/// An estate under construction; starts with a root node.
#[derive(Clone)]
pub struct EstateBuilder {
    pub estate: Estate,
    next_key: u128,
}

impl EstateBuilder {
    pub fn new() -> EstateBuilder {
        let estate = Estate {
            nodes: vec![Node { parent: None }],
            ..Estate::default()
        };
        EstateBuilder {
            estate,
            next_key: 1,
        }
    }

    pub fn node(&mut self, parent: u32) -> u32 {
        self.estate.nodes.push(Node {
            parent: Some(parent),
        });
        self.estate.nodes.len() as u32 - 1
    }

    pub fn family(&mut self) -> u32 {
        self.estate.family_count += 1;
        self.estate.family_count - 1
    }

    /// An application that allows downgrade.
    pub fn application(&mut self, family: u32, version_rank: u32, metric: Metric) -> u32 {
        self.application_with(Application {
            family,
            version_rank,
            metric,
            downgrade_allowed: true,
            no_license_required: false,
        })
    }

    pub fn application_with(&mut self, application: Application) -> u32 {
        self.estate.applications.push(application);
        self.estate.applications.len() as u32 - 1
    }

    /// A counted computer with one processor and one core.
    pub fn computer(&mut self, node: u32) -> u32 {
        self.computer_with(Computer {
            node,
            processors: 1,
            cores: 1,
            counted: true,
        })
    }

    pub fn computer_with(&mut self, computer: Computer) -> u32 {
        self.estate.computers.push(computer);
        self.estate.computers.len() as u32 - 1
    }

    pub fn user(&mut self, node: u32) -> u32 {
        self.estate.users.push(User { node });
        self.estate.users.len() as u32 - 1
    }

    pub fn install(&mut self, computer: u32, application: u32) {
        self.estate.installations.push(Installation {
            computer,
            application,
        });
    }

    /// `count` new computers at `node`, each with `application` installed.
    pub fn installed(&mut self, node: u32, application: u32, count: u32) -> Vec<u32> {
        (0..count)
            .map(|_| {
                let computer = self.computer(node);
                self.install(computer, application);
                computer
            })
            .collect()
    }

    pub fn used(&mut self, user: u32, application: u32, last_used: i64) {
        self.estate.usage.push(Usage {
            user,
            application,
            last_used,
        });
    }

    pub fn exclude(&mut self, consumer: Consumer, application: Option<u32>) {
        self.estate.exclusions.push(Exclusion {
            consumer,
            application,
            reason: 7,
        });
    }

    /// Adds a license; a zero key gets the next key, so keys follow insertion.
    pub fn license(&mut self, mut license: License) -> u32 {
        if license.key == 0 {
            license.key = self.next_key;
            self.next_key += 1;
        }
        self.estate.licenses.push(license);
        self.estate.licenses.len() as u32 - 1
    }

    pub fn assign(&mut self, license: u32, consumer: Consumer, quantity: u64) -> u32 {
        let key = self.next_key;
        self.next_key += 1;
        self.estate.assignments.push(Assignment {
            key,
            license,
            consumer,
            quantity,
        });
        self.estate.assignments.len() as u32 - 1
    }

    /// Changes an assignment's quantity.
    pub fn set_assignment_quantity(&mut self, assignment: u32, quantity: u64) {
        self.estate.assignments[assignment as usize].quantity = quantity;
    }

    pub fn calculate(&self) -> estate_compliance::Outcome {
        calculate(&self.estate).expect("a valid estate")
    }
}

/// A valid organization license for one application at the root, without
/// automatic allocation or downgrade, in the application's metric.
pub fn organization(estate: &EstateBuilder, application: u32, quantity: u64) -> License {
    License {
        key: 0,
        target: Target::Application(application),
        metric: estate.estate.applications[application as usize].metric,
        assignment: AssignmentType::Organization,
        quantity: Quantity::Count(quantity),
        legal_owner: 0,
        automatic_allocation: false,
        downgrade_rights: false,
        manual_allocations: Vec::new(),
        upgrade_of: Vec::new(),
        validity: Validity::Valid,
        minimum_per_computer: 0,
    }
}

/// A valid license assigned to consumers of the given type.
pub fn assigned(
    estate: &EstateBuilder,
    application: u32,
    assignment: AssignmentType,
    quantity: u64,
) -> License {
    License {
        assignment,
        ..organization(estate, application, quantity)
    }
}
