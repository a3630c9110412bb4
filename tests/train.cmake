# FuseGPT's backward pass and fused linears (ops' backward twins, the block backward, fused blocks).
df_test_exe(test_backward test_backward.c)
df_test(backward_ops 0 $<TARGET_FILE:test_backward>)
# every gradient of a real block (plain and fused) against PyTorch autograd (Debian python3-torch)
df_test_exe(test_block_grad test_block_grad.c)
df_test(block_grad_torch 0 $<TARGET_FILE:test_block_grad> models/base-16L 6 ${DF_PYTHON}
        ${CMAKE_CURRENT_SOURCE_DIR}/block_grad_torch.py)
df_test(block_grad_torch_qwen2 0 $<TARGET_FILE:test_block_grad> arch/tiny-qwen2 1 ${DF_PYTHON}
        ${CMAKE_CURRENT_SOURCE_DIR}/block_grad_torch.py)
# fused group at init == removal (bit for bit), folded == unfolded (1e-5), sharing, nesting, arena
df_test_exe(test_fused test_fused.c)
df_test(fused_blocks 0 $<TARGET_FILE:test_fused>)
# compress --method fusegpt: -np 1 == -np 2 (D = 2), kill -9 + resume == uninterrupted, --epochs 0 == removal
df_test(cli_fusegpt 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_fusegpt.sh ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
# losses (values, gradients, finite differences, kl-batch split over ranks) and Adam vs torch's algorithm
df_test_exe(test_train test_train.c)
df_test(train_losses_np1 1 $<TARGET_FILE:test_train>)
df_test(train_losses_np2 2 $<TARGET_FILE:test_train>)
