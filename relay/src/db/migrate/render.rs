//! The template language of the relay's migrations: one file per step,
//! `relay/migrations/NNNN_name.sql`, rendered into the SQL text each engine runs.
//!
//! A template is SQL. A line that begins with `--@` is a directive and renders as nothing
//! itself (to SQL it is a comment):
//!
//! - `--@postgres` or `--@sqlite` opens a block of lines for that engine only; the other
//!   engine's marker inside the block switches it to that engine (an "else"); `--@end` closes
//!   it. Blocks do not nest.
//! - `--@tenant_wall <table> [<column>]`: PostgreSQL's row-level security on `<table>`
//!   (enabled and forced) and the policy `tenant_wall`, which lets a row through to a
//!   transaction in the platform scope or in the tenant named by `<column>` (`tenant_id` when
//!   left out; `tenants` itself uses `id`). See `db/mod.rs` for the settings it reads.
//! - `--@platform_only <table>`: the same wall for a table of no tenant, which only the
//!   platform scope sees through.
//!
//! The walls render on PostgreSQL only (SQLite has no row-level security) and not inside a
//! `--@sqlite` block. Every other line is copied as it is, line ending included, into the text
//! of each engine its block admits, so the rendering of a step is exact to the byte: sqlx
//! compares the checksum of that text with the one it recorded when it applied the step.
//! A malformed directive is a [`TemplateError`] naming the file and the line.

use super::Backend;

/// A template that cannot be rendered, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TemplateError {
    pub file: String,
    /// The line of the directive at fault; none when the file's name is.
    pub line: Option<usize>,
    pub reason: String,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "migration template {}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Renders `template` (the text of the step `file`) for `backend`.
pub(super) fn render(
    file: &str,
    template: &str,
    backend: Backend,
) -> Result<String, TemplateError> {
    let mut renderer = Renderer {
        file,
        backend,
        block: None,
        text: String::with_capacity(template.len()),
    };
    for (index, line) in template.split_inclusive('\n').enumerate() {
        renderer.line(index + 1, line)?;
    }
    renderer.finish()
}

/// An open `--@postgres` or `--@sqlite` block.
struct Block {
    engine: Backend,
    opened_on: usize,
}

struct Renderer<'a> {
    file: &'a str,
    backend: Backend,
    block: Option<Block>,
    text: String,
}

impl Renderer<'_> {
    fn line(&mut self, number: usize, line: &str) -> Result<(), TemplateError> {
        let Some(directive) = line.strip_prefix("--@") else {
            if self.block.as_ref().is_none_or(|b| b.engine == self.backend) {
                self.text.push_str(line);
            }
            return Ok(());
        };
        let mut words = directive.split_whitespace();
        let name = words.next().unwrap_or_default();
        let arguments: Vec<&str> = words.collect();
        match name {
            "postgres" => self.open(number, Backend::Postgres, &arguments),
            "sqlite" => self.open(number, Backend::Sqlite, &arguments),
            "end" => self.end(number, &arguments),
            "tenant_wall" => match arguments[..] {
                [table] => self.wall(number, table, Some("tenant_id")),
                [table, column] => self.wall(number, table, Some(column)),
                _ => Err(self.error(
                    number,
                    "`--@tenant_wall` takes a table and, if not `tenant_id`, its tenant column: \
                     `--@tenant_wall <table> [<column>]`",
                )),
            },
            "platform_only" => match arguments[..] {
                [table] => self.wall(number, table, None),
                _ => Err(self.error(
                    number,
                    "`--@platform_only` takes one table: `--@platform_only <table>`",
                )),
            },
            other => Err(self.error(
                number,
                &format!(
                    "unknown directive `--@{other}` (the directives are --@postgres, --@sqlite, \
                     --@end, --@tenant_wall and --@platform_only)"
                ),
            )),
        }
    }

    fn open(
        &mut self,
        number: usize,
        engine: Backend,
        arguments: &[&str],
    ) -> Result<(), TemplateError> {
        let marker = marker(engine);
        if !arguments.is_empty() {
            return Err(self.error(number, &format!("`{marker}` takes no argument")));
        }
        if let Some(open) = &self.block
            && open.engine == engine
        {
            let reason = format!(
                "`{marker}` inside the {marker} block opened on line {}",
                open.opened_on
            );
            return Err(self.error(number, &reason));
        }
        self.block = Some(Block {
            engine,
            opened_on: number,
        });
        Ok(())
    }

    fn end(&mut self, number: usize, arguments: &[&str]) -> Result<(), TemplateError> {
        if !arguments.is_empty() {
            return Err(self.error(number, "`--@end` takes no argument"));
        }
        if self.block.take().is_none() {
            return Err(self.error(
                number,
                "`--@end` with no --@postgres or --@sqlite block open",
            ));
        }
        Ok(())
    }

    /// A wall on `table` that lets through the platform scope and, given a `tenant_column`,
    /// the tenant that column names.
    fn wall(
        &mut self,
        number: usize,
        table: &str,
        tenant_column: Option<&str>,
    ) -> Result<(), TemplateError> {
        if let Some(name) = [Some(table), tenant_column]
            .into_iter()
            .flatten()
            .find(|n| !is_identifier(n))
        {
            let reason =
                format!("`{name}` is not a table or column name (lower case, digits, `_`)");
            return Err(self.error(number, &reason));
        }
        if self
            .block
            .as_ref()
            .is_some_and(|b| b.engine == Backend::Sqlite)
        {
            return Err(self.error(
                number,
                "a wall inside a --@sqlite block: row-level security is PostgreSQL's only",
            ));
        }
        if self.backend == Backend::Postgres {
            self.text.push_str(&wall_sql(table, tenant_column));
        }
        Ok(())
    }

    fn finish(self) -> Result<String, TemplateError> {
        match &self.block {
            Some(open) => {
                let reason = format!(
                    "the {} block is never closed by `--@end`",
                    marker(open.engine)
                );
                Err(self.error(open.opened_on, &reason))
            }
            None => Ok(self.text),
        }
    }

    fn error(&self, line: usize, reason: &str) -> TemplateError {
        TemplateError {
            file: self.file.to_owned(),
            line: Some(line),
            reason: reason.to_owned(),
        }
    }
}

fn marker(engine: Backend) -> &'static str {
    match engine {
        Backend::Postgres => "--@postgres",
        Backend::Sqlite => "--@sqlite",
    }
}

fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The row-level security of `table`: a row passes in the platform scope, or, given a
/// `tenant_column`, when that column holds the transaction's tenant.
fn wall_sql(table: &str, tenant_column: Option<&str>) -> String {
    let tenant = tenant_column
        .map(|column| format!("    OR {column} = current_setting('dipper.tenant_id', true)\n"))
        .unwrap_or_default();
    format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n\
         ALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n\
         CREATE POLICY tenant_wall ON {table} USING (\n\
         \x20   current_setting('dipper.platform', true) = 'on'\n\
         {tenant});\n"
    )
}

#[cfg(test)]
mod tests;
