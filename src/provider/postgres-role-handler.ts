// Retired: pgshift's roles were once dynamic resources (PostgresRole) whose
// provider, serialized into each stack's state, loads this file by its path to
// delete one. Stacks brought up then still hold them; on their first update
// with @pulumi/postgresql (components/database-roles.ts) the same roles are
// taken over by postgresql.Role resources (import) and the old resources leave
// the state through `remove` below. It must not touch the role — the new
// resource manages it, and the app is logged in with it — so it does nothing.
// Kept at this path for as long as such states may exist.
export async function remove(): Promise<void> {}
