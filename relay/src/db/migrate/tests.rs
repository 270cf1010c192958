//! The migrations' guarantees: every step applied by a released relay renders, on each
//! engine, the very text whose checksum the databases recorded; and every file in
//! `relay/migrations/` is a step.

use super::steps::{STEPS, Step};
use super::*;

/// The checksums (SHA-384, as sqlx records them, in hex) of a released step's text on each
/// engine. Written once, when the step is released, and never edited: a step that renders
/// otherwise would make sqlx refuse every database that applied it.
struct Applied {
    file: &'static str,
    postgres: &'static str,
    sqlite: &'static str,
}

/// Every released step. The first twelve were taken from the files `sqlx::migrate!`
/// embedded from `migrations/postgres/` and `migrations/sqlite/` before they became one
/// template each (and compared with the rendering of those templates then).
const APPLIED: &[Applied] = &[
    Applied {
        file: "0001_init.sql",
        postgres: "db22849f683e54cabdeadaad7454422f0e60d458ffe997854774ccb87ef742020395a307dd78c92440bc549f23558ba3",
        sqlite: "6bfc0a6d0795a2a28d2ac66b0dd695f749fbca714bb111dae9926b2d52550b58b5716b3dafdf62901927c966ae03cbc4",
    },
    Applied {
        file: "0002_sessions.sql",
        postgres: "743a5a74d42477b82bbe932c03348065c346a92b699100325949e61221749d3eb6e02b4828ddf10963430e5224c69354",
        sqlite: "19c50d9491457f5f152674e446252f783e701b2ef44507e3ec4c6a107ced3e971435672833f059b5351cdd1b02e341b7",
    },
    Applied {
        file: "0003_accounts_per_tenant.sql",
        postgres: "9b9b4fecb84ece649f7518b1382957def60ec2190ec991e5a7a5dc306c61445b54e6482d3ecd77d8583215302480e515",
        sqlite: "663a3645d53594ca14e7ffe034be9158bd5e93ffe558559ea2e9ae92233082907bd8e38ff5e4787e83dc3962fb978eba",
    },
    Applied {
        file: "0004_uplink.sql",
        postgres: "e43b3688bceef7af8fc96698ebad23668bb4ad55091438a003341e8c7da0ee79a92c672552ab87d2d4b9719ddf246290",
        sqlite: "c5717f193390ede98aadae379726c7ceff84c60a3ac0aeb76977ad36c2aef478c2b2aec717d8c0f49ebe69f92f00d58e",
    },
    Applied {
        file: "0005_report_order.sql",
        postgres: "096483663e5509e6591acd321356ff678ec6e782d47eeccb4355897bf48af47ea51bd3c82361c897414ec2971fc30e91",
        sqlite: "de9782a0ba2ef08ab593ddc089c53e7c1f8356d13426a1c90c0faefb7895d4537be7a1e6b1b1318d9314dc70435470a4",
    },
    Applied {
        file: "0006_face_library.sql",
        postgres: "42eada6edb9a110a99fb129eebc24df7cf02bc25d0ae276d6d1abc75589046167284347c24cb18c87d122376ce94a2cf",
        sqlite: "084fe9f7a83d3b45704fdcb12819c3883b8f81ea0713813831e59d1e8ac648f82db99e1556627c4247f567657eaa80c6",
    },
    Applied {
        file: "0007_searches.sql",
        postgres: "ad9a701cabd3403289730c9d9ddce42cec0ef832affeafa685b243ae47b6d7eae7c4284ccbd6a43d2b0f965870dfc4b5",
        sqlite: "59f5b9642af6112e57ad794f7099467e7cb081ca0a0726ccbdc62ae3f92d098e340126463d8441f825575da018b4a3d6",
    },
    Applied {
        file: "0008_rpc_params.sql",
        postgres: "8ec470735ad9a33a7e5a51e6af0456bf46e9c279d4342f37d476de8458df0825db0095037cea7cbffd7cf7c4f27fa894",
        sqlite: "4a5aafa0146709c6d318da314f39cc169b54e5cffbc4df60a67bc83790009330f8a213d587e656d78a5baf7c8b257fba",
    },
    Applied {
        file: "0009_billing.sql",
        postgres: "9eede1d4495f7d29d56aaefc2efaab69188cfa242d090e55fa724bce441982e9d28b3159e64713199b56bb6f61bd43c4",
        sqlite: "36c2b70eb339d572d3b7fcac291a2f6170b711355af86b52bb23318224c1049699810c2d6a9fd44bc6ed988a847aed57",
    },
    Applied {
        file: "0010_dunning.sql",
        postgres: "4bec035c7610c89021ff35b82bea2ddbd805a330cb876b83a57aad08bf70dd4a2fecfcf21af37d330a50f06c23764a0a",
        sqlite: "f427618ae3464ac7ba08c6c8a272352d9d01c6f9b66a879a3652cf56526d36c265d30988a8807774725becc916b59d76",
    },
    Applied {
        file: "0011_search_finish_held.sql",
        postgres: "f073c2744fbc90cd688584f83d0a77497fdef9eeb9ebe76cb5c6e1e4247dce88afe6af5b08f7d46b88439d012e3eb764",
        sqlite: "a5a75d7c469d012a608adc2bc9dbcdfff64c7165b0d01879232d93a2238dbf56edbc4cf23169de7358cab8e2567c07f8",
    },
    Applied {
        file: "0012_software.sql",
        postgres: "b58916f55d99720186c58f856bd764e62fe54209a015a8d7e1feb2161240fad5788bbe2625f10b62ad41842e31d460f7",
        sqlite: "5b9a4e3e7071ddfd76871c7bfe8f05bfd16502ff6e93d7000fdf03836033a7d56b5c66162be3fbced8e82a11f3308629",
    },
];

const BOTH: [Backend; 2] = [Backend::Postgres, Backend::Sqlite];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn rendered(step: &Step, backend: Backend) -> sqlx::migrate::Migration {
    step.migration(backend).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn released_steps_render_the_text_databases_recorded() {
    let mut wrong = Vec::new();
    for step in STEPS {
        let checksums = BOTH.map(|backend| hex(&rendered(step, backend).checksum));
        let Some(applied) = APPLIED.iter().find(|a| a.file == step.file) else {
            wrong.push(format!(
                "{}: no recorded checksums; once the step is released, add to APPLIED \
                 postgres: \"{}\", sqlite: \"{}\"",
                step.file, checksums[0], checksums[1]
            ));
            continue;
        };
        for ((backend, recorded), checksum) in BOTH
            .into_iter()
            .zip([applied.postgres, applied.sqlite])
            .zip(checksums)
        {
            if checksum != recorded {
                wrong.push(format!(
                    "{} on {backend:?}: renders a text other than the one databases applied \
                     (checksum {checksum}, recorded {recorded}); a released step is never \
                     edited, a new step changes the schema",
                    step.file
                ));
            }
        }
    }
    for applied in APPLIED {
        if !STEPS.iter().any(|step| step.file == applied.file) {
            wrong.push(format!("{}: released, but no longer a step", applied.file));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_file_in_the_migrations_folder_is_a_step() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let entries =
        std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("reading {}: {e}", folder.display()));
    let mut missing = Vec::new();
    for entry in entries {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name != "README.md" && !STEPS.iter().any(|step| step.file == name) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "relay/migrations/ holds {missing:?}, which steps.rs does not list: it would never \
         be applied"
    );
}

#[test]
fn steps_are_in_order_and_their_versions_unique() {
    let versions: Vec<i64> = STEPS
        .iter()
        .map(|step| rendered(step, Backend::Sqlite).version)
        .collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    assert_eq!(
        latest_version(Backend::Postgres).expect("postgres"),
        versions[versions.len() - 1]
    );
    assert_eq!(
        latest_version(Backend::Sqlite).expect("sqlite"),
        versions[versions.len() - 1]
    );
}

#[test]
fn a_step_named_otherwise_is_refused_by_name() {
    let step = Step {
        file: "init.sql",
        template: "SELECT 1;\n",
    };
    let error = step.migration(Backend::Sqlite).expect_err("no version");
    assert_eq!(
        error.to_string(),
        "migration template init.sql: the file name is not `<version>_<description>.sql`"
    );
}
