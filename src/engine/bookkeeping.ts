// Tables in which an app's migration tool records which migrations ran. With
// `--schema existing` the tool has just run against PostgreSQL and written its
// own rows there; copying SQLite's over them (or demanding --overwrite to) would
// erase the stamp the next deploy's `upgrade` relies on. pgshift keeps the
// target's rows and reports how they differ from SQLite's.

/** Table name (as in SQLite, compared case-insensitively) → the tool that owns it. */
export const BOOKKEEPING_TABLES: Record<string, string> = {
  alembic_version: "Alembic",
  django_migrations: "Django",
  schema_migrations: "Rails / golang-migrate / dbmate",
  ar_internal_metadata: "Rails",
  knex_migrations: "Knex",
  knex_migrations_lock: "Knex",
  _prisma_migrations: "Prisma",
  flyway_schema_history: "Flyway",
  goose_db_version: "goose",
  __efmigrationshistory: "Entity Framework",
  sequelizemeta: "Sequelize",
  doctrine_migration_versions: "Doctrine",
  __diesel_schema_migrations: "Diesel",
  _sqlx_migrations: "SQLx",
  seaql_migrations: "SeaORM",
  atlas_schema_revisions: "Atlas",
  gorp_migrations: "sql-migrate",
  databasechangelog: "Liquibase",
  databasechangeloglock: "Liquibase",
  pgmigrations: "node-pg-migrate",
};

/** The migration tool that owns this table, or undefined for the app's own data. */
export function bookkeepingTool(table: string): string | undefined {
  return BOOKKEEPING_TABLES[table.toLowerCase()];
}
