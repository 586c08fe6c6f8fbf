/**
 * The one set of migrations for both stores. Each migration is written once with Kysely's schema
 * builder; the only dialect difference is how an auto-assigned integer id is declared, which
 * `idColumn` hides. Migrations run in order at start (Kysely's Migrator, which takes a lock, so
 * several replicas starting together on one PostgreSQL migrate once).
 */
import type { CreateTableBuilder, Kysely, Migration } from 'kysely';

/** Which SQL engine a store runs on. */
export type StoreDialect = 'sqlite' | 'postgres';

function idColumn<T extends string>(table: CreateTableBuilder<T, never>, dialect: StoreDialect) {
  return dialect === 'sqlite'
    ? table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    : table.addColumn('id', 'serial', (c) => c.primaryKey());
}

/** Migrations by name (names sort in the order they run). */
export function migrationsFor(dialect: StoreDialect): Record<string, Migration> {
  return {
    '0001-initial': {
      async up(db: Kysely<unknown>) {
        await idColumn(db.schema.createTable('domains'), dialect)
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await idColumn(db.schema.createTable('zones'), dialect)
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('netprefix', 'text', (c) => c.notNull())
          .addColumn('primary_controller', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('secondary_controller', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await idColumn(db.schema.createTable('users'), dialect)
          .addColumn('domain_id', 'integer', (c) => c.notNull().references('domains.id'))
          .addColumn('login', 'text', (c) => c.notNull())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('roles', 'text', (c) => c.notNull())
          .addColumn('active', 'integer', (c) => c.notNull())
          .addColumn('zone_id', 'integer', (c) => c.references('zones.id'))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('users_domain_login', ['domain_id', 'login'])
          .execute();
        await idColumn(db.schema.createTable('nodes'), dialect)
          .addColumn('domain_id', 'integer', (c) => c.notNull().references('domains.id'))
          .addColumn('zone_id', 'integer', (c) => c.notNull().references('zones.id'))
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('hostname', 'text', (c) => c.notNull())
          .addColumn('owner_user_id', 'integer', (c) => c.references('users.id'))
          .addColumn('host_id', 'text', (c) => c.unique())
          .addColumn('locator', 'text')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('cga_parameters', 'text')
          .addColumn('rsa_public_key', 'text')
          .addColumn('x25519_public_key', 'text')
          .addColumn('certificate_serial', 'text')
          .addColumn('last_keepalive_at', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await idColumn(db.schema.createTable('links'), dialect)
          .addColumn('domain_id', 'integer', (c) => c.notNull().references('domains.id'))
          .addColumn('node_a', 'integer', (c) => c.notNull().references('nodes.id'))
          .addColumn('node_z', 'integer', (c) => c.notNull().references('nodes.id'))
          .addColumn('endpoint_a', 'text')
          .addColumn('endpoint_z', 'text')
          .addColumn('cost', 'integer', (c) => c.notNull())
          .addColumn('labels', 'text', (c) => c.notNull())
          .addColumn('admin_state', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('links_pair', ['node_a', 'node_z'])
          .execute();
        await idColumn(db.schema.createTable('templates'), dialect)
          .addColumn('domain_id', 'integer', (c) => c.notNull().references('domains.id'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('orientation', 'text', (c) => c.notNull())
          .addColumn('multicast', 'integer', (c) => c.notNull())
          .addColumn('image', 'text', (c) => c.notNull())
          .addColumn('roles', 'text', (c) => c.notNull())
          .addColumn('logic_hash', 'text', (c) => c.notNull())
          .addColumn('signature', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('templates_domain_name', ['domain_id', 'name'])
          .execute();
        await idColumn(db.schema.createTable('contracts'), dialect)
          .addColumn('domain_id', 'integer', (c) => c.notNull().references('domains.id'))
          .addColumn('template_id', 'integer', (c) => c.notNull().references('templates.id'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('enabled', 'integer', (c) => c.notNull())
          .addColumn('roles', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('contracts_domain_name', ['domain_id', 'name'])
          .execute();
        await idColumn(db.schema.createTable('services'), dialect)
          .addColumn('domain_id', 'integer', (c) => c.notNull().references('domains.id'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('enabled', 'integer', (c) => c.notNull())
          .addColumn('grants', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('services_domain_name', ['domain_id', 'name'])
          .execute();
        await idColumn(db.schema.createTable('service_tokens'), dialect)
          .addColumn('service_id', 'integer', (c) => c.notNull().references('services.id'))
          .addColumn('domain_id', 'integer', (c) => c.notNull().references('domains.id'))
          .addColumn('secret_hash', 'text', (c) => c.notNull())
          .addColumn('ident', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await idColumn(db.schema.createTable('endpoints'), dialect)
          .addColumn('domain_id', 'integer', (c) => c.notNull().references('domains.id'))
          .addColumn('service_id', 'integer', (c) => c.notNull().references('services.id'))
          .addColumn('node_id', 'integer', (c) => c.notNull().references('nodes.id'))
          .addColumn('contract_id', 'integer', (c) => c.notNull().references('contracts.id'))
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('authorization_serial', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await idColumn(db.schema.createTable('authorizations'), dialect)
          .addColumn('serial', 'text', (c) => c.notNull().unique())
          .addColumn('domain_id', 'integer', (c) => c.notNull().references('domains.id'))
          .addColumn('endpoint_id', 'integer', (c) => c.references('endpoints.id'))
          .addColumn('contract_id', 'integer', (c) => c.notNull().references('contracts.id'))
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('role_id', 'integer', (c) => c.notNull())
          .addColumn('node_id', 'integer', (c) => c.notNull().references('nodes.id'))
          .addColumn('host_id', 'text', (c) => c.notNull())
          .addColumn('logic_hash', 'text', (c) => c.notNull())
          .addColumn('not_before', 'text', (c) => c.notNull())
          .addColumn('not_after', 'text', (c) => c.notNull())
          .addColumn('revoked_at', 'text')
          .addColumn('signed', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await idColumn(db.schema.createTable('audit'), dialect)
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('domain_id', 'integer')
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('object_type', 'text', (c) => c.notNull())
          .addColumn('object_id', 'integer')
          .addColumn('detail', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('nonces')
          .addColumn('nonce', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'integer', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('used', 'integer', (c) => c.notNull())
          .execute();
        await idColumn(db.schema.createTable('commands'), dialect)
          .addColumn('node_id', 'integer', (c) => c.notNull().references('nodes.id'))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('delivered_at', 'text')
          .execute();
        await db.schema
          .createTable('settings')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute();
        for (const [name, table, columns] of [
          ['users_domain', 'users', ['domain_id']],
          ['nodes_domain', 'nodes', ['domain_id']],
          ['links_domain', 'links', ['domain_id']],
          ['links_node_z', 'links', ['node_z']],
          ['endpoints_contract', 'endpoints', ['contract_id']],
          ['endpoints_node', 'endpoints', ['node_id']],
          ['authorizations_node', 'authorizations', ['node_id']],
          ['audit_domain', 'audit', ['domain_id']],
          ['commands_pending', 'commands', ['node_id', 'delivered_at']],
        ] as const)
          await db.schema
            .createIndex(name)
            .on(table)
            .columns([...columns])
            .execute();
      },
    },
    // Templates were signed (Ed25519 over code and entry offsets) though nothing ever verified
    // the signature: engines check the flow authorization's logic hash (docs/security.md).
    '0002-templates-unsigned': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('templates').dropColumn('signature').execute();
      },
    },
    // Template roles took `permissions` and `endpointRules`, which nothing used; the API no longer
    // has them, so stored roles lose them too (their JSON is rewritten, nothing else changes).
    '0003-template-roles-without-unused-fields': {
      async up(unknownDb: Kysely<unknown>) {
        const db = unknownDb as unknown as Kysely<{ templates: { id: number; roles: string } }>;
        const rows = await db.selectFrom('templates').select(['id', 'roles']).execute();
        for (const row of rows) {
          const roles = JSON.parse(row.roles) as Record<string, unknown>[];
          if (!roles.some((role) => 'permissions' in role || 'endpointRules' in role)) continue;
          const kept = roles.map(({ permissions: _p, endpointRules: _e, ...role }) => role);
          await db
            .updateTable('templates')
            .set({ roles: JSON.stringify(kept) })
            .where('id', '=', row.id)
            .execute();
        }
      },
    },
    // A password change ends the user's sessions: tokens carry the generation they were issued
    // at (the `gen` claim) and the controller refuses an older one (docs/security.md).
    '0004-user-credential-generation': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('users')
          .addColumn('credential_generation', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },
    // Domain isolation: a node links only to engines of its own domain or of a domain a systemAdmin
    // peered it with, and a domain's paths cross only engines it trusts (docs/controller.md).
    '0005-peerings': {
      async up(db: Kysely<unknown>) {
        await idColumn(db.schema.createTable('peerings'), dialect)
          .addColumn('domain_id', 'integer', (c) => c.notNull().references('domains.id'))
          .addColumn('peer_domain_id', 'integer', (c) => c.notNull().references('domains.id'))
          .addColumn('engine_id', 'integer', (c) => c.references('nodes.id'))
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('peerings_domain').on('peerings').columns(['domain_id']).execute();
        await db.schema
          .createIndex('peerings_peer_domain')
          .on('peerings')
          .columns(['peer_domain_id'])
          .execute();
      },
    },
    // Node labels (waypoints and the like, set by an administrator) and the template's label tags
    // (which bit a label is for its programs): docs/controller.md, "Role routes".
    '0006-node-labels-and-label-tags': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('nodes')
          .addColumn('labels', 'text', (c) => c.notNull().defaultTo('[]'))
          .execute();
        await db.schema
          .alterTable('templates')
          .addColumn('label_tags', 'text', (c) => c.notNull().defaultTo('[]'))
          .execute();
      },
    },
    // Deleting a service token revokes the endpoints registered with it: endpoints name their
    // token (null for those registered before; no foreign key, the token's row may go first).
    // A deleted node's host id is decommissioned until its certificates have all expired: it may
    // not register again, and every node that registers learns it.
    '0007-endpoint-service-token': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('decommissioned_hosts')
          .addColumn('host_id', 'text', (c) => c.primaryKey())
          .addColumn('until', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.alterTable('endpoints').addColumn('service_token_id', 'integer').execute();
        await db.schema
          .createIndex('endpoints_service_token')
          .on('endpoints')
          .column('service_token_id')
          .execute();
      },
    },
    // Group keys of role-addressed traffic, issued per (contract, role, epoch): group-keys.ts.
    '0008-group-keys': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('group_keys')
          // No foreign key: a contract's delete removes its group keys first (resources.ts).
          .addColumn('contract_id', 'integer', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('epoch', 'integer', (c) => c.notNull())
          .addColumn('secret', 'text', (c) => c.notNull())
          .addColumn('members', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('group_keys_pk', ['contract_id', 'role', 'epoch'])
          .execute();
      },
    },
    // The statistics of a node's last keep-alive (JSON; an engine's live flows, packets, drops),
    // written with the keep-alive's time: the topology view shows them.
    '0009-node-keepalive-statistics': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('nodes').addColumn('keepalive_statistics', 'text').execute();
      },
    },
    // Narrowing changes beyond contracts and services: a domain deactivated, a template disabled
    // (policy-revocation.ts revokes what each takes away). Existing rows stay active and enabled.
    '0010-domain-active-template-enabled': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('domains')
          .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
          .execute();
        await db.schema
          .alterTable('templates')
          .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
          .execute();
      },
    },
    // Topology from the controller (docs/controller.md, "Engine links"): a link is declared by an
    // administrator (`admin`: its ends are told to have it) or registered by a node that made it
    // on its own (`node`). Links stored before were all someone's wish: they become declared, so
    // nodes keep the links they had. A zone may ask for a full mesh of its engines.
    '0011-declared-links-and-engine-mesh': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('links')
          .addColumn('origin', 'text', (c) => c.notNull().defaultTo('admin'))
          .execute();
        await db.schema
          .alterTable('zones')
          .addColumn('engine_mesh', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },
    // A recomputation seeks its kind's newest command, and reads the newest per node when another
    // replica wrote since (sent-commands.ts).
    '0012-commands-by-kind': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createIndex('commands_kind_node')
          .on('commands')
          .columns(['kind', 'node_id', 'id'])
          .execute();
      },
    },
    // A command is done when its node acknowledges it (a later keep-alive names its id), not when
    // it was written to a connection: until then keep-alives carry it again (commands.ts).
    '0013-command-acks': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('commands').addColumn('acked_at', 'text').execute();
        await db.schema
          .alterTable('nodes')
          .addColumn('command_acks', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .createIndex('commands_unacked')
          .on('commands')
          .columns(['node_id', 'acked_at'])
          .execute();
      },
    },
  };
}
