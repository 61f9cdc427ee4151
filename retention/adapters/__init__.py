"""Adapters that turn public datasets into the data contract (`retention.contract.ContractFrames`)."""
