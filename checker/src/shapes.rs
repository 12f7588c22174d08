//! Generators of histories shaped like the ones public tools record (Porcupine's 6.824 kv logs,
//! Jepsen's etcd logs, Knossos' register histories): valid by construction, values that repeat.
