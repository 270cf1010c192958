use super::*;

const FILE: &str = "0042_example.sql";

/// Renders `template` for both engines and compares with what each should read.
fn check(template: &str, postgres: &str, sqlite: &str) {
    for (backend, expected) in [(Backend::Postgres, postgres), (Backend::Sqlite, sqlite)] {
        let rendered = render(FILE, template, backend).expect("renders");
        assert_eq!(
            rendered, expected,
            "{backend:?}\n--- expected\n{expected}--- rendered\n{rendered}"
        );
    }
}

/// Renders `template` and expects an error at `line` whose reason holds `reason`.
fn check_error(template: &str, line: usize, reason: &str) {
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let error = render(FILE, template, backend).expect_err("malformed");
        assert_eq!(
            (error.file.as_str(), error.line),
            (FILE, Some(line)),
            "{error}"
        );
        assert!(error.reason.contains(reason), "{error}");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("migration template {FILE}, line {line}: ")),
            "{message}"
        );
    }
}

const TENANT_WALL: &str = "\
ALTER TABLE people ENABLE ROW LEVEL SECURITY;
ALTER TABLE people FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON people USING (
    current_setting('dipper.platform', true) = 'on'
    OR tenant_id = current_setting('dipper.tenant_id', true)
);
";

#[test]
fn plain_sql_is_copied_to_both_engines_byte_for_byte() {
    let sql = "-- A comment.\r\nCREATE TABLE t (id TEXT);\n\n  --@ not at the start\nSELECT 1;";
    check(sql, sql, sql);
    check("", "", "");
}

#[test]
fn an_engine_block_reaches_its_engine_only() {
    check(
        "a\n--@postgres\nb\n--@end\nc\n--@sqlite\nd\n--@end\ne\n",
        "a\nb\nc\ne\n",
        "a\nc\nd\ne\n",
    );
}

#[test]
fn the_other_marker_switches_an_open_block() {
    check(
        "--@sqlite\n-- no-transaction\n--@postgres\n-- header\n--@end\nSELECT 1;\n",
        "-- header\nSELECT 1;\n",
        "-- no-transaction\nSELECT 1;\n",
    );
}

#[test]
fn a_tenant_wall_is_written_once_and_rendered_on_postgres_only() {
    check(
        "x\n--@tenant_wall people\ny\n",
        &format!("x\n{TENANT_WALL}y\n"),
        "x\ny\n",
    );
    check(
        "--@postgres\n\n--@tenant_wall people\n--@end\n",
        &format!("\n{TENANT_WALL}"),
        "",
    );
}

#[test]
fn a_tenant_wall_may_name_its_tenant_column() {
    check(
        "--@tenant_wall tenants id\r\n",
        "ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;\n\
         ALTER TABLE tenants FORCE ROW LEVEL SECURITY;\n\
         CREATE POLICY tenant_wall ON tenants USING (\n\
         \x20   current_setting('dipper.platform', true) = 'on'\n\
         \x20   OR id = current_setting('dipper.tenant_id', true)\n\
         );\n",
        "",
    );
}

#[test]
fn a_platform_only_wall_lets_no_tenant_through() {
    check(
        "--@platform_only job_leases",
        "ALTER TABLE job_leases ENABLE ROW LEVEL SECURITY;\n\
         ALTER TABLE job_leases FORCE ROW LEVEL SECURITY;\n\
         CREATE POLICY tenant_wall ON job_leases USING (\n\
         \x20   current_setting('dipper.platform', true) = 'on'\n\
         );\n",
        "",
    );
}

#[test]
fn a_malformed_directive_names_the_file_and_line() {
    check_error("a\n--@postgress\n", 2, "unknown directive `--@postgress`");
    check_error("--@\n", 1, "unknown directive `--@`");
    check_error(
        "--@postgres now\n--@end\n",
        1,
        "`--@postgres` takes no argument",
    );
    check_error("--@sqlite\n--@end here\n", 2, "`--@end` takes no argument");
    check_error(
        "a\nb\n--@end\n",
        3,
        "no --@postgres or --@sqlite block open",
    );
    check_error(
        "a\n--@sqlite\nb\n",
        2,
        "the --@sqlite block is never closed",
    );
    check_error(
        "--@postgres\n--@sqlite\n--@sqlite\n--@end\n",
        3,
        "`--@sqlite` inside the --@sqlite block opened on line 2",
    );
}

#[test]
fn a_malformed_wall_names_the_file_and_line() {
    check_error(
        "\n\n--@tenant_wall\n",
        3,
        "`--@tenant_wall <table> [<column>]`",
    );
    check_error(
        "--@tenant_wall a b c\n",
        1,
        "`--@tenant_wall <table> [<column>]`",
    );
    check_error(
        "--@platform_only a tenant_id\n",
        1,
        "`--@platform_only <table>`",
    );
    check_error("--@platform_only\n", 1, "`--@platform_only <table>`");
    check_error(
        "--@tenant_wall People\n",
        1,
        "`People` is not a table or column name",
    );
    check_error(
        "--@tenant_wall t x;\n",
        1,
        "`x;` is not a table or column name",
    );
    check_error(
        "--@sqlite\n--@tenant_wall people\n--@end\n",
        2,
        "row-level security is PostgreSQL's only",
    );
}
