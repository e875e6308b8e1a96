/**
 * Every built-in policy, imported once so each registers itself (src/policy/registry.ts). Entry
 * points import this module; the engine and the loader never do. Order is the registration order
 * the loader lists when a name is unknown.
 */
import './balance.js';
import './maintenance.js';
import './pin.js';
import './affinity.js';
import './consolidation.js';
