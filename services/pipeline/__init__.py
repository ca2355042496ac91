"""The pipeline: an item becomes deliveries (fanout), posts (deliver) and partners' amplifications
(amplify), with delayed work released by the scheduler and every outcome kept in the ledger."""
