"""Fine-tuning the copywriter: the dataset (validate, split), LoRA training with peft, and evaluation."""
