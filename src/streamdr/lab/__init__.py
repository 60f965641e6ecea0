"""The local runtime: Kafka/MM2 jars from Maven Central, KRaft clusters, fault injection."""
