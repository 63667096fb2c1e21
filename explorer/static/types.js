// The shapes of the API's answers (/api/v1, explorer/api/schemas.py) as the pages read them: JSDoc types for the type
// checker only, nothing here runs and no page loads this file. Chain times are seconds since the epoch, log
// and call times milliseconds; hashes are 0x hex, log hashes base64.

/** @import { Bundle, Keys } from "./verify.js" */

/**
 * GET /me: who is asking.
 * @typedef {object} Person
 * @property {string} org
 * @property {string} name
 * @property {string} role  "compliance", "operator" or "regulator"
 * @property {string | null} display_name
 * @property {boolean} regulator
 * @property {number | null} expires_ms  when the login token expires
 */

/**
 * An event of one of our contracts, decoded (a member's, an asset's or a grant's history).
 * @typedef {object} ChainEvent
 * @property {number} block_number
 * @property {number} timestamp
 * @property {string} tx_hash
 * @property {number} log_index
 * @property {string | null} contract
 * @property {string | null} event  null for a log of another contract
 * @property {Record<string, unknown> | null} args  null when the person may not see them
 * @property {string} [address]
 */

/**
 * GET /members (under "members"), GET /members/{org} (with its history).
 * @typedef {object} Member
 * @property {string} org
 * @property {string} name
 * @property {string[]} roles
 * @property {string} status  "active", "suspended" or "removed"
 * @property {string} certificate_fingerprint
 * @property {string[]} accounts
 * @property {number} admitted_at
 * @property {ChainEvent[]} [history]
 */

/**
 * GET /assets (under "assets"), GET /assets/{id} (with versions, grants and history).
 * @typedef {object} Asset
 * @property {string} asset
 * @property {string} owner
 * @property {string} kind
 * @property {number} classification  1 (public) to 4 (restricted)
 * @property {boolean} private  classification 3 or 4: its detail only for its owner and grantees
 * @property {number} version_count
 * @property {string | null} pending_owner
 * @property {number} registered_at
 * @property {boolean} retired
 * @property {number} transfers
 * @property {AssetVersion[]} [versions]
 * @property {Grant[]} [grants]
 * @property {ChainEvent[]} [history]
 */

/**
 * @typedef {object} AssetVersion
 * @property {number} version
 * @property {string} content_digest
 * @property {string} metadata_digest
 * @property {number} classification
 * @property {number} timestamp
 * @property {number} block_number
 * @property {string} tx_hash
 * @property {string} registered_by
 */

/**
 * GET /grants (under "grants"), GET /grants/{id} (with its history).
 * @typedef {object} Grant
 * @property {string} grant_id
 * @property {string} asset
 * @property {string} grantor
 * @property {string | null} grantee  a private grant's: the caller of a call under it (allowed or denied), as the
 *   log shows it; null while no call used it
 * @property {string | null} purpose
 * @property {number | null} not_before
 * @property {number | null} expires_at  0: no expiry
 * @property {number | null} quota  0: unlimited
 * @property {number} created_at
 * @property {number | null} revoked_at
 * @property {string | null} revoke_reason
 * @property {string} state  "active", "revoked", "expired", "not_yet_valid" or "void"; "private" for a private grant
 * @property {boolean} [private]  a private grant: the explorer shows no terms of it
 * @property {string | null} [terms]
 * @property {string} [key]  a private grant's on-chain locator: keccak256(abi_encode(salt, asset, grantee, purpose))
 * @property {string} [commitment]  a private grant's on-chain commitment to its terms
 * @property {ChainEvent[]} [history]
 */

/**
 * GET /services: the catalogue, as of a block.
 * @typedef {{block: number, centers: {center: string, name: string, units: Unit[]}[]}} Services
 * @typedef {{unit: string, name: string, apis: ServiceApi[]}} Unit
 * @typedef {object} ServiceApi
 * @property {string} api
 * @property {string} route
 * @property {string} method
 * @property {string} provider
 * @property {string | null} asset
 * @property {boolean} active
 */

/**
 * A call as the explorer indexes it: GET /calls (under "calls"), GET /calls/{id} (as "call").
 * @typedef {object} Call
 * @property {number} index  its leaf index in the log
 * @property {string} event_id
 * @property {number} time_ms
 * @property {string} caller_org
 * @property {string} provider_org
 * @property {string} center
 * @property {string} unit
 * @property {string} api
 * @property {string} method
 * @property {string} route
 * @property {string | null} asset_id
 * @property {number | null} asset_version
 * @property {string | null} grant_id
 * @property {string} decision  "allow" or "deny"
 * @property {string | null} denial_reason
 * @property {number | null} status  the HTTP status the provider answered
 * @property {number | null} latency_us
 * @property {string} trace_id
 * @property {string} gateway_id
 * @property {number} gateway_seq
 * @property {string} leaf_hash
 * @property {RegulatorQuery[]} [regulator_queries]  in a search's rows: the regulator's queries of the call the
 *   person may see (a firm's people under the consortium's audit policy only)
 */

/**
 * One of the regulator's queries of a call: the query record's event id, its time and endpoint.
 * @typedef {{event_id: string, time_ms: number, api: string}} RegulatorQuery
 */

/** @typedef {{calls: Call[], next: string | null, limit: number}} CallPage  GET /calls; next: the cursor */

/**
 * The audit event a log entry holds (notary/event.py): a call's fields and a few more.
 * @typedef {Partial<Call> & {v?: number, traceparent?: string, caller_identity?: string,
 *   request_digest?: string, response_digest?: string, subject?: string, psi_dp_cost?: string, psi_job?: string,
 *   psi_record?: string, psi_retry_of?: string, psi_summary?: string}} AuditEvent
 */

/**
 * How a call's digests were salted (``scheme``: ``epoch-hkdf/v1``, ``epoch-hkdf-sm3/v1`` or ``gateway-key/v1``)
 * and, when its provider destroyed that day's key, its signed statement.
 * @typedef {{scheme: string, day: string,
 *   shredded: {provider: string, day: string, shredded_ms: number, by: string} | null}} Digests
 */

/** @typedef {{call: Call, event: AuditEvent, digests?: Digests}} CallDetail  GET /calls/{id} */

/**
 * A link of a call's provenance as the explorer checked it; the log's four are the browser's steps too.
 * `code` and `params`: what `detail` says, for the page's words (`provStep.<code>` in i18n.js).
 * @typedef {{step: string, ok: boolean | null, detail: string, code?: string, params?: Record<string, unknown>, data?: unknown}} ProvenanceStep
 */

/**
 * GET /calls/{id}/provenance.
 * @typedef {object} Provenance
 * @property {string} event_id
 * @property {Call} call
 * @property {boolean} verified  every link but the grant's and the asset version's checked
 * @property {ProvenanceStep[]} steps
 * @property {Bundle | null} evidence  null when the notary could not be asked
 * @property {Keys} keys
 */

/**
 * GET /blocks (under "blocks"), GET /blocks/{n} (with its transactions).
 * @typedef {object} Block
 * @property {number} number
 * @property {string} hash
 * @property {string} parent_hash
 * @property {number} timestamp
 * @property {number} tx_count
 * @property {unknown} seals  the validators' seals, as the block's extra data holds them
 * @property {Transaction[]} [transactions]
 */

/** @typedef {{blocks: Block[], next: number | null, head: number}} BlockPage  GET /blocks */

/** @typedef {{address: string, org: string | null}} NamedValidator  an account, named by the member holding it */

/**
 * A validator's activity over the window (under "validators" of GET /validators).
 * @typedef {object} ValidatorCounts
 * @property {string} address
 * @property {string | null} org
 * @property {boolean} current  in the set the newest block names (which decides the next block)
 * @property {number} proposed  blocks whose beneficiary it is
 * @property {number} sealed  blocks carrying its commit seal
 * @property {number} missed  rounds it was the proposer of that decided no block
 * @property {number} in_set  blocks decided by a set naming it
 */

/**
 * A block decided in a round after the first (under "round_changes").
 * @typedef {object} RoundChange
 * @property {number} number
 * @property {number} round
 * @property {NamedValidator | null} proposer  null for a block indexed before proposers were recorded
 * @property {(NamedValidator & {rounds: number})[] | null} missed  the proposers of the earlier rounds; null: unknown
 */

/**
 * A block naming a validator set other than its parent's (under "set_changes").
 * @typedef {object} SetChange
 * @property {number} number
 * @property {string[]} validators  the set it names
 * @property {NamedValidator[]} added
 * @property {NamedValidator[]} removed
 */

/**
 * GET /validators?window=N: the validators over the newest N blocks, counted from their seals.
 * @typedef {object} ValidatorActivity
 * @property {number} head  the newest indexed block, -1 before the first
 * @property {number} window
 * @property {number | null} first  the oldest block counted
 * @property {ValidatorCounts[]} validators  the current set in rotation order, then the others
 * @property {number} unknown_proposer  blocks counted whose proposer the index does not hold
 * @property {number} unknown_missed  blocks decided after a round change whose missed proposers are unknown
 * @property {RoundChange[]} round_changes  newest first, at most 50
 * @property {number} round_changes_total
 * @property {SetChange[]} set_changes  newest first, at most 50
 * @property {number} set_changes_total
 */

/**
 * One record of GET /validators/equivocations, checked by the explorer before it is listed.
 * @typedef {object} EquivocationListed
 * @property {number} index  its place in the answer of the first node in `nodes`
 * @property {NamedValidator} validator
 * @property {number} height
 * @property {number} round
 * @property {string} type  PROPOSAL, PREPARE, COMMIT or ROUND_CHANGE
 * @property {boolean} set_checked  checked against the set its height's parent names (that block is indexed)
 * @property {Record<string, string>} record  as qbft_getEquivocations answers it: both signed bodies, hex
 * @property {string[]} [nodes]  the nodes that reported it (the same conflict, merged)
 */

/**
 * One node asked for its equivocation evidence.
 * @typedef {object} EvidenceNode
 * @property {string} name  its org as nodes.json names it ("chain node": the explorer's own, not named there)
 * @property {boolean} own  the explorer's own chain node
 * @property {boolean} ok  it answered a list at the last ask
 * @property {string | null} error  why not
 * @property {number} records  records of its last good answer
 */

/**
 * GET /validators/equivocations: every chain node's equivocation evidence, merged, each record checked by the
 * explorer.
 * @typedef {object} Equivocations
 * @property {EquivocationListed[]} equivocations
 * @property {{index: number, reason: string, node?: string}[]} refused  records a node served that prove nothing
 * @property {{ok: boolean, error: string | null}} source  whether the explorer's own node answered at the last ask
 * @property {EvidenceNode[]} [nodes]  every node asked, with its status
 */

/**
 * GET /transactions/{hash}, and a block's transactions (without events); redacted for a person who may not see it.
 * @typedef {object} Transaction
 * @property {string} hash
 * @property {number} block_number
 * @property {number} index
 * @property {number} timestamp
 * @property {string} from
 * @property {string | null} to
 * @property {string | null} contract
 * @property {string | null} function
 * @property {Record<string, unknown> | null} args
 * @property {number} status  1 success, 0 failed
 * @property {string | null} created  the contract it created
 * @property {ChainEvent[]} [events]
 * @property {boolean} [redacted]
 */

/**
 * GET /checkpoints (under "checkpoints"): the log's published checkpoints and their anchors.
 * @typedef {object} Checkpoint
 * @property {number} size
 * @property {string} root
 * @property {number} time_ms
 * @property {number} published_ms
 * @property {string[]} cosigners
 * @property {string} note  the signed note
 * @property {Anchor | null} anchor
 */

/**
 * GET /anchors (under "anchors"): a checkpoint's anchor transaction.
 * @typedef {object} Anchor
 * @property {number} [size]
 * @property {string} [root]
 * @property {string} state  "sent", "confirmed" or "failed"
 * @property {string | null} tx_hash
 * @property {number | null} block_number
 * @property {number | null} sent_ms
 * @property {number | null} confirmed_ms
 * @property {"checked" | "unchecked" | "unknown"} [signature]  GET /anchors: whether AuditAnchor checked the log
 *   key's signature on it (an AnchorSigned log in the transaction), from the explorer's chain index
 */

/**
 * A witness as the notary last heard from it: GET /health, GET /dashboard ({org: {status, detail}}).
 * @typedef {{org: string, status?: number | string | null, detail?: unknown}} WitnessStatus
 */

/**
 * GET /dashboard.
 * @typedef {object} Dashboard
 * @property {{number: number | null, time: number | null}} head
 * @property {Checkpoint | null} checkpoint
 * @property {Checkpoint | null} anchor  the latest anchored checkpoint
 * @property {number} log_size
 * @property {Record<string, Omit<WitnessStatus, "org">> | WitnessStatus[]} witnesses
 * @property {unknown} calls_per_minute  rows of {minute_ms, center, count}, see views/dashboard.js
 * @property {Call[]} denials
 * @property {RegulatorLookCounts} [regulator_looks]  to a firm's people under the `audit` policy only
 * @property {{org: string, queries: number}[]} [regulator_queries_by_firm]  to the regulator's people only
 */

/**
 * Of one firm's calls in a period: how many the regulator's queries read, and how many such queries.
 * @typedef {object} RegulatorLookCounts
 * @property {number} calls
 * @property {number} queries
 */

/**
 * GET /health.
 * @typedef {object} Health
 * @property {{ok?: boolean, head?: number, head_time?: number, indexed?: number, last_error?: string | null}} chain
 * @property {{ok: boolean, [field: string]: unknown}} notary
 * @property {Dashboard["witnesses"]} witnesses
 * @property {{gateway: string, last_seq: number, gaps: number}[]} gateways
 * @property {Record<string, unknown>} explorer
 */

/**
 * One operational alarm (GET /alarms; docs/alarms.md).
 * @typedef {object} Alarm
 * @property {string} id  `<rule>:<subject>`
 * @property {string} rule
 * @property {"info" | "warning" | "critical"} severity
 * @property {string} subject  the component: `witness/<org>`, `node/<org>`, `gateway/<org>`, `notary`, ...
 * @property {string | null} org
 * @property {string} summary
 * @property {string | null} [summary_code]  what summary says, for the page's words (alarmSummary.<code>)
 * @property {Record<string, string | number>} [summary_params]  the values the code names
 * @property {number} since_ms
 * @property {number | null} resolved_ms
 */

/**
 * GET /alarms: the alarms as last evaluated, and how fresh that is.
 * @typedef {object} Alarms
 * @property {"live" | "stale" | "unreachable" | "never"} status
 * @property {"endpoint" | "file"} source
 * @property {number | null} evaluated_ms
 * @property {number | null} age_ms
 * @property {number} stale_after_ms
 * @property {string | null} error  why the source is unreachable
 * @property {Alarm[] | null} active  null: not known
 * @property {Alarm[] | null} resolved  null: not known
 */

/**
 * The audit log's record of one alarm transition (GET /alarms/records; docs/alarms.md, "In the audit log").
 * @typedef {object} AlarmRecord
 * @property {number} index  leaf index in the log
 * @property {string} event_id
 * @property {number} time_ms
 * @property {string} alarm_id  `<rule>:<subject>`
 * @property {string} rule
 * @property {string} subject
 * @property {string} transition  "fired", "changed" or "resolved"
 * @property {string} severity
 * @property {string} org  the firm whose component it is about; the operator for consortium-wide ones
 * @property {string} operator
 * @property {string} leaf_hash
 */

/**
 * GET /alarms/records.
 * @typedef {{records: AlarmRecord[], next: string | null, limit: number}} AlarmRecordPage
 */

/**
 * The explorer's record of one person's query (GET /queries; docs/explorer.md, "Audit of the auditors").
 * @typedef {object} QueryRecord
 * @property {number} index
 * @property {string} event_id
 * @property {number} time_ms
 * @property {string} caller_org  the querying person's firm
 * @property {string} api
 * @property {string} method
 * @property {string} route
 * @property {string} decision
 * @property {string | null} denial_reason
 * @property {number} status
 * @property {string[]} subject  the firms whose data the query read
 * @property {string} leaf_hash
 */

/**
 * GET /queries.
 * @typedef {{queries: QueryRecord[], next: string | null, limit: number}} QueryPage
 */

export {};

/**
 * GET /jobs/{tag}: a privacy-computing job's steps in the log, grouped by the tag their events name.
 * @typedef {object} PsiJob
 * @property {string} tag  SHA-256 over the grant id and the job id (privacy.asset.job_tag), hex
 * @property {string} client
 * @property {string} owner
 * @property {string | null} asset
 * @property {number | null} asset_version
 * @property {string | null} grant_id
 * @property {Grant | null} grant
 * @property {boolean} complete  an allowed request and an allowed record step naming the record
 * @property {string | null} record_sha256  the SHA-256 of the record signed by both (record.json), hex
 * @property {JobSummary | null} [summary]  the record step's psi_summary, parsed
 * @property {string | null} [summary_json]  the psi_summary as the event holds it
 * @property {JobPrivacyBudget | null} [privacy_budget]  with a differentially private count: the grant's budget
 * @property {JobStep[]} steps
 * @property {Checkpoint | null} checkpoint  the smallest checkpoint that includes every step
 * @property {Checkpoint | null} anchored  the smallest anchored checkpoint that includes every step
 */

/**
 * What a job with a differentially private count spent of its grant's privacy budget (decimal strings of ε).
 * @typedef {object} JobPrivacyBudget
 * @property {string} epsilon  ε of each noisy count
 * @property {number} noisy_counts  1 (the result) or 3 (with the input counts)
 * @property {string} cost  the ε this job spent
 * @property {string | null} budget  the grant's budget as the record states it; null when the terms set none
 * @property {string} spent  what the grant's jobs spent through this one, in log order
 * @property {string | null} remaining
 * @property {string} spent_total  what every job of the grant spent (each admitted request's stated ε)
 * @property {string | null} remaining_total
 * @property {number} jobs  the grant's jobs counted
 * @property {number} unrecorded_requests  allowed requests whose job has no record step
 * @property {number} uncounted_requests  those of them whose event states no ε: not in spent_total
 */

/**
 * The record signed by both, as the record step's event holds it (psi_summary): without its job id and purpose.
 * @typedef {object} JobSummary
 * @property {number} v
 * @property {string} grant_id
 * @property {string} protocol
 * @property {string} implementation
 * @property {number} max_input
 * @property {JobParty} client
 * @property {JobParty} server
 * @property {{request: string, response: string}} messages  SHA-256 of each protocol message, hex
 * @property {{count: number, root: string}} result
 * @property {{client: string, server: string}} signatures  Ed25519, hex
 * @property {string} [terms]  SHA-256 of the grant's own PSI terms document, hex; absent: the asset's terms
 */

/**
 * @typedef {object} JobParty
 * @property {string} org
 * @property {string} signing_key
 * @property {string} vrf_key
 * @property {number} [input_count]  absent when the summary's dp holds the input counts with noise
 * @property {string} input_root  Merkle root over the party's sorted keyed identifiers
 */

/**
 * @typedef {object} JobStep
 * @property {string | null} step  "terms", "request" or "record"
 * @property {Call} call
 * @property {string} tag_from  "message" (the gateway computed it) or "client" (the client's header)
 * @property {string | null} record_sha256
 * @property {number | null} checkpoint  the size of the smallest checkpoint that includes the step
 */
