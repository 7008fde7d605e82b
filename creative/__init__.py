"""Write personalized ad copy with an LLM served by vLLM: placements, prompts, checks and repair."""
