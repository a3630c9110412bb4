/* What a job costs, from the model's config alone: the floats of weights, activations, caches and
 * training state, and the FLOPs of the block computations. The planner (depthfuse plan, --dry-run)
 * and docs/distributed.md's memory tables are these functions' output; the activation and scratch
 * sizes are the ones block_acts_init and block_grad_work_init allocate (tests/test_costs.c). */
#ifndef DEPTHFUSE_COSTS_H
#define DEPTHFUSE_COSTS_H
#include "depthfuse/config.h"

/* the activations of one block over B sequences of T tokens (block_acts_init; capture: the block
 * input and mid-block residual kept for a backward) */
double cost_acts_floats(const ModelConfig *c, int B, int T, int capture);
/* block_backward's scratch (block_grad_work_init) */
double cost_grad_work_floats(const ModelConfig *c, int B, int T);
/* the largest linear's out x in (the G of one linear's gradient) */
double cost_max_linear(const ModelConfig *c);
/* attention's forward scratch per rank, and its backward chunk buffers per thread */
double cost_attn_scratch_floats(const ModelConfig *c, int T);
double cost_attn_backward_floats(const ModelConfig *c, int T);
/* the trainable numbers of one fused block with `absorbed` injected blocks (fused.h: B A of
 * lora_rank, C_L C_R of rank and c_b per absorbed block, both norm gains; ranks capped by min(out,in)) */
double cost_fused_params(const ModelConfig *c, int rank, int lora_rank, int absorbed);
/* forward FLOPs of one block per token of a causal window of T tokens (the linears, 2 per weight,
 * and attention's two products over T/2 positions on average), and of the head per token */
double cost_block_flops(const ModelConfig *c, int T);
double cost_head_flops(const ModelConfig *c);
/* Macro Influence / SLEB's cached sweep over n blocks: block forwards per window (the reference
 * pass, then candidate i runs the n-1-i blocks after it: docs/importance.md) */
double cost_sweep_block_forwards(int n);

#endif
