"""Prove the tests bite: apply each known breakage to a scratch copy of the repository and check that the
tests guarding it go red. Exit 1 if any breakage survives (its tests stay green) or no longer applies.

    python scripts/mutation_check.py            # all
    python scripts/mutation_check.py --list
    python scripts/mutation_check.py --only resume-keeps-user-file,unbounded-queues

Each mutation is an exact text replacement in one file (so the list stays honest as the code changes: a
replacement that no longer matches is reported, not skipped) and the tests that must catch it. The copy is
imported through PYTHONPATH, so the installed package is untouched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


M = Mutation
MUTATIONS = [
    # issue 12, data loss and silent wrong output
    M("resume-keeps-user-file", "streamseg/jobs.py", "rec = process(job, backend, opts, cancel=cancel)",
      "rec = process(job, backend, replace(opts, overwrite=opts.overwrite or resume), cancel=cancel)",
      ("tests/test_batch.py::test_resume_never_replaces_a_file_it_did_not_write",
       "tests/test_faults.py::test_resume_after_a_refused_output_keeps_the_users_file")),
    # issue 23: the reserved Carvana cars are never read
    M("carvana-reserved-read", "training/carvana.py",
      '    assert not is_reserved_car(name), f"reserved Carvana car, must never be read: {name}"', "    pass",
      ("tests/test_training.py::test_reserved_carvana_cars_are_never_read",)),
    # issue 24, round two
    M("resume-trusts-the-size", "streamseg/jobs.py", " and content_hash(out) == record[\"sha256\"]", "",
      ("tests/test_faults.py::test_resume_keeps_a_same_size_file_put_over_an_output_done",)),
    M("one-partial-name-for-all", "streamseg/files.py", 'tag = f"{os.getpid()}-{secrets.token_hex(4)}"',
      'tag = "0-00000000"', ("tests/test_files.py",)),
    M("no-output-lock", "streamseg/files.py", "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)", "pass",
      ("tests/test_faults.py::test_a_second_run_writing_the_same_output_is_refused_and_the_first_completes",)),
    M("killed-run-partial-kept", "streamseg/files.py", "            remove(stale)", "            pass",
      ("tests/test_faults.py::test_a_run_after_a_killed_one_removes_its_partial",)),
    M("outputs-taken-as-inputs", "streamseg/jobs.py",
      '    return path.name.startswith(".") or bool(OUTPUT_NAME.search(path.stem))', "    return False",
      ("tests/test_faults.py::test_a_folder_run_leaves_out_its_earlier_outputs_and_says_so",)),
    M("manifest-outputs-taken-as-inputs", "streamseg/api.py",
      "    inputs = [f for f in files if is_stream(f) or Path(f).resolve() not in written]", "    inputs = list(files)",
      ("tests/test_faults.py::test_outputs_listed_in_the_manifest_are_not_inputs_whatever_their_name",)),
    M("single-output-folder-not-made", "streamseg/api.py",
      "            make_folder(Path(job.output).parent)  # as a folder",
      "            pass  # as a folder",
      ("tests/test_bad_input.py::test_a_missing_output_folder_is_created_for_a_file_as_for_a_folder_run",)),
    M("huge-photo-decoded", "streamseg/photo.py",
      "            check_size(name, *im.size)  # from the header", "            pass  # from the header",
      ("tests/test_faults.py::test_a_huge_photo_is_refused_by_its_size_before_decoding",)),
    M("foreign-container-name", "streamseg/io/writer.py", "foreign = suffix in FOREIGN_SUFFIXES", "foreign = False",
      ("tests/test_bad_input.py::test_an_output_named_for_a_container_we_do_not_write_is_refused",)),
    M("animated-webp-as-photo", "streamseg/photo.py", " and not is_animated_picture(source)", "",
      ("tests/test_faults.py::test_animated_webp_and_gif_are_videos_alone_and_in_folders",)),
    M("animated-webp-temporary-left", "streamseg/io/reader.py",
      "        self.container.close()\n        self._remove_temporary()", "        self.container.close()",
      ("tests/test_faults.py::test_animated_webp_and_gif_are_videos_alone_and_in_folders",)),
    M("input-alpha-ignored", "streamseg/pipeline.py", "    if alpha is None:\n        return images",
      "    if True:\n        return images",
      ("tests/test_faults.py::test_a_transparent_photos_alpha_multiplies_the_matte_and_is_said",)),
    M("join-through-ctrl-c", "streamseg/threads.py", "                if w.finished.wait(0.2):",
      "                w.join(0.2)\n                if not w.is_alive():",
      ("tests/test_faults.py::test_waiting_for_workers_goes_on_through_ctrl_c",
       "tests/test_faults.py::test_ctrl_c_in_a_folder_run_exits_130_with_nothing_left")),
    M("manifest-no-space", "streamseg/jobs.py", "                raise output_error(self.path, e) from None",
      "                raise", ("tests/test_batch.py::test_manifest_on_a_full_disk_is_an_output_error",)),
    M("empty-manifest-left", "streamseg/jobs.py", "                    self.path.unlink()\n",
      "                    pass\n", ("tests/test_batch.py::test_full_disk_leaves_no_empty_manifest",)),
    M("frame-count-rounds-up", "streamseg/io/reader.py", "int(self.duration_s * float(self.rate) + 1e-6)",
      "round(self.duration_s * float(self.rate) + 0.5)", ("tests/test_run.py::test_run_line_frame_count",)),
    M("frame-count-not-about", "streamseg/io/reader.py", "{'' if self.frames else 'about '}", "",
      ("tests/test_run.py::test_run_line_frame_count",)),
    M("interlaced-not-deinterlaced", "streamseg/io/reader.py", "        if info.deinterlaced:\n            items =",
      "        if False:\n            items =", ("tests/test_interlaced.py",)),
    M("dropped-streams-unsaid", "streamseg/io/reader.py", "            if s.index in kept:\n                continue",
      "            continue", ("tests/test_streams_dropped.py",)),
    M("subtitles-not-written", "streamseg/io/subtitles.py", "            self.output.mux(item.packet)",
      "            pass", ("tests/test_subtitles.py",)),
    # issue 12, tests that could not fail
    M("unbounded-queues", "streamseg/pipeline.py", "queue.Queue(maxsize=depth * self.batch_size)", "queue.Queue()",
      ("tests/test_pipeline.py::test_slow_encoder_applies_back_pressure",)),
    M("no-optimiser-step", "training/train.py", "        scaler.step(opt)\n", "        pass\n",
      ("tests/test_training.py::test_train_steps_reduce_loss_and_export",)),
    M("plate-dropped-when-missed", "streamseg/plates.py", "if t.missed <= self.hold]", "if t.missed == 0]",
      ("tests/test_plates.py::test_a_plate_missed_for_a_few_frames_stays_covered_then_goes",)),
    M("plate-corners-not-steadied", "streamseg/plates.py", "track.corners + self.follow * (quad - track.corners)",
      "quad.copy()",
      ("tests/test_plates.py::test_a_parked_plate_is_steadier_than_its_detections_and_a_second_plate_is_its_own",)),
    M("plate-blur-too-small", "streamseg/plates.py", "int(max(x1 - x0, y1 - y0) / 3) | 1", "3",
      ("tests/test_plates.py::test_blur_hides_the_plate_and_leaves_the_rest",)),
    M("plates-never-covered", "streamseg/pipeline.py", "        x = replace(x, pixels=plates(x.pixels))",
      "        pass",
      ("tests/test_plates.py::test_the_shipped_detector_fills_a_plate_in_a_photo_and_nothing_else",
       "tests/test_plates.py::test_a_plate_is_blurred_in_every_frame_of_a_video_through_the_api")),
    M("convert-drops-the-plate-option", "streamseg/api.py", "        plate=plate_cover(plate),", "        plate=None,",
      ("tests/test_plates.py::test_a_plate_is_blurred_in_every_frame_of_a_video_through_the_api",)),
    M("plate-pieces-not-joined", "streamseg/plates.py",
      "joined = cv2.dilate(found, cv2.getStructuringElement(cv2.MORPH_RECT, JOIN))", "joined = found",
      ("tests/test_plates.py::test_pieces_of_one_plate_are_one_plate",)),
    M("edge-tiles-misplaced", "streamseg/edges.py", "window(pixels, alpha, y * t - m, x * t - m, t + 2 * m)",
      "window(pixels, alpha, y * t - m, x * t, t + 2 * m)",
      ("tests/test_edges.py::test_untrained_stage_leaves_the_matte_as_it_is",)),
    M("edge-stage-beyond-the-band", "streamseg/edges.py",
      "= kept + (piece[:, :y1 - y0, :x1 - x0] - kept) * weight", "= piece[:, :y1 - y0, :x1 - x0]",
      ("tests/test_edges.py::test_shipped_stage_changes_the_band_only_and_its_tiles_meet",)),
    M("edge-stage-draws-from-the-covered-plate", "streamseg/pipeline.py",
      "            filmed = x.pixels.clone()", "            pass",
      ("tests/test_plates.py::test_the_shipped_detector_fills_a_plate_in_a_photo_and_nothing_else",)),
    M("matte-drawn-from-the-covered-plate", "streamseg/cpu_compositor.py",
      "_halves(seen[k].numpy(), *args[1:], MATTE_ONLY", "_halves(*args, MATTE_ONLY",
      ("tests/test_plates.py::test_the_shipped_detector_fills_a_plate_in_a_photo_and_nothing_else",
       "tests/test_cpu_compositor.py::test_both_compositors_draw_the_matte_from_the_frame_as_filmed")),
    M("tensor-matte-guided-by-the-covered-plate", "streamseg/composite.py",
      "guide = frames if filmed is None else to_planar(filmed)", "guide = frames",
      ("tests/test_cpu_compositor.py::test_both_compositors_draw_the_matte_from_the_frame_as_filmed",)),
    M("edge-stage-never-called", "streamseg/cpu_compositor.py",
      "redrawn = self.edges(seen[k:k + 1], torch.from_numpy(alpha)[None, None])",
      "redrawn = torch.from_numpy(alpha)[None, None]",
      ("tests/test_edges.py::test_photos_and_videos_take_the_option",
       "tests/test_edges.py::test_segmenter_and_service_take_the_option")),
    M("tensor-compositor-skips-the-edge-stage", "streamseg/composite.py",
      "            alpha = self.edges(pixels if filmed is None else filmed, alpha)", "            pass",
      ("tests/test_cpu_compositor.py::test_fused_cpu_path_with_the_edge_stage_matches_tensor_path",)),
    M("edges-run-line-silent", "streamseg/edges.py", "    if redrawn:\n", "    if False:\n",
      ("tests/test_edges.py::test_photos_and_videos_take_the_option",)),
    M("photos-without-the-edge-stage-by-default", "streamseg/options.py",
      "return (photo if self.edges is None else self.edges) and self.refine",
      "return (False if self.edges is None else self.edges) and self.refine",
      ("tests/test_edges.py::test_photos_and_videos_take_the_option",)),
    M("segmenter-opens-the-edge-stage-for-small-pictures", "streamseg/api.py",
      "if self.edges and redraws(height, width):", "if self.edges:",
      ("tests/test_edges.py::test_segmenter_and_service_take_the_option",)),
    M("cpu-edge-stage-batches-its-tiles", "streamseg/edges.py",
      "round(GPU_CHUNK_PIXELS / backend.spec.input_height ** 2)) if on_gpu else 1",
      "round(GPU_CHUNK_PIXELS / backend.spec.input_height ** 2))",
      ("tests/test_edges.py::test_a_cpu_stage_sends_one_tile_a_call",)),
    M("fused-blend-ignores-the-redrawn-matte", "streamseg/cpu_compositor.py",
      "out[k], redrawn[0, 0].contiguous().numpy(), True)", "out[k], alpha, True)",
      ("tests/test_cpu_compositor.py::test_fused_cpu_path_with_the_edge_stage_matches_tensor_path",)),
    M("edge-stage-on-small-frames-too", "streamseg/edges.py",
      "return height * width >= MIN_PIXELS", "return True",
      ("tests/test_edges.py::test_small_frames_are_left_as_they_are",
       "tests/test_edges.py::test_photos_and_videos_take_the_option")),
    M("isnet-redrawn-by-the-unets-edge-network", "streamseg/edges.py",
      '("edges-isnet.pt" if coarse == "isnet" else "edges.pt")', '"edges.pt"',
      ("tests/test_edges.py::test_isnet_is_redrawn_by_its_own_edge_network",)),
    M("edge-stage-ignores-the-coarse-model", "streamseg/edges.py",
      "open_edge_stage(coarse.name, str(coarse.device), coarse.spec.arch)",
      "open_edge_stage(coarse.name, str(coarse.device))",
      ("tests/test_edges.py::test_isnet_is_redrawn_by_its_own_edge_network",)),
    # issue 23: the closer look at the car (streamseg.closer)
    M("closer-look-off-the-car", "streamseg/closer.py",
      "y0, x0 = min(round(top * zoom), grid[0] - h), min(round(left * zoom), grid[1] - w)",
      "y0, x0 = min(round(top), grid[0] - h), min(round(left), grid[1] - w)",
      ("tests/test_closer.py::test_second_look_lands_on_the_car_and_draws_it_finer",)),
    M("closer-look-no-finer", "streamseg/closer.py", "return finer, alpha", "return small, alpha_lr",
      ("tests/test_closer.py::test_second_look_lands_on_the_car_and_draws_it_finer",)),
    M("closer-look-finer-than-the-photo", "streamseg/closer.py", "size = max(bh, bw * h / w, h / max_zoom)",
      "size = max(bh, bw * h / w)", ("tests/test_closer.py::test_window_frames_the_car_at_the_grids_aspect",)),
    M("closer-look-decides-what-is-car", "streamseg/closer.py",
      "weight = weight * near_outline(part)", "pass",
      ("tests/test_closer.py::test_second_look_moves_the_outline_only",)),
    M("closer-look-behind-isnet-too", "streamseg/pipeline.py",
      'redraws(height, width) and backend.spec.arch == "unet"', "redraws(height, width)",
      ("tests/test_closer.py::test_only_photos_behind_a_unet_where_the_edge_stage_redraws",)),
    M("photos-look-once", "streamseg/photo.py", "filters, plates, still=True)", "filters, plates)",
      ("tests/test_closer.py::test_photos_take_it_videos_do_not",)),
    M("street-photos-scored-as-subjects", "training/evaluate_carvana.py", "vehicles=vehicles or self.vehicles)",
      "vehicles=self.vehicles)", ("tests/test_real_quality.py::test_default_model_on_real_cars_as_users_get_it",)),
    M("edge-refiner-mixes-no-coarse-networks", "training/edge_refiner.py",
      "return (name, float(share)) if name else (text, 1.0)", "return (text, 1.0)",
      ("tests/test_training.py::test_edge_refiner_takes_its_coarse_networks_with_their_shares",)),
    M("deep-edge-network-narrow-margin", "streamseg/models/edges.py", "MARGINS = {3: 32, 4: 72}",
      "MARGINS = {3: 32, 4: 32}",
      ("tests/test_edges.py::test_tiles_of_any_depth_give_one_whole_picture_convolution",)),
    M("photos-skip-the-outline-look", "streamseg/closer.py",
      "    if outline is None or finer is small:", "    if outline is not None or finer is small:",
      ("tests/test_closer.py::test_photos_take_it_videos_do_not",)),
    M("outline-look-on-a-car-that-fills-the-picture", "streamseg/closer.py",
      "    if outline is None or finer is small:", "    if outline is None:",
      ("tests/test_closer.py::test_the_outline_network_looks_only_where_the_closer_look_zoomed_in",)),
    M("outline-look-at-the-first-looks-size", "streamseg/closer.py",
      "    wh, ww = size or (h, w)", "    wh, ww = (h, w)",
      ("tests/test_closer.py::test_outline_look_sees_the_car_at_its_networks_size_and_draws_it_finer_still",)),
    M("outline-look-on-a-picture-too-small-for-it", "streamseg/closer.py",
      "    if pixels.shape[1] < outline.spec.input_height", "    if 0 > pixels.shape[1] < outline.spec.input_height",
      ("tests/test_closer.py::test_the_outline_network_looks_only_where_the_closer_look_zoomed_in",)),
    M("outline-network-keeps-its-buffers", "streamseg/closer.py",
      "        outline.release()  # one look", "        pass  # one look",
      ("tests/test_closer.py::test_the_outline_network_looks_only_where_the_closer_look_zoomed_in",)),
    M("first-network-keeps-its-buffers", "streamseg/closer.py",
      "    net.release()  # the first", "    pass  # the first",
      ("tests/test_closer.py::test_the_outline_network_looks_only_where_the_closer_look_zoomed_in",)),
    M("isnet-photos-not-kept-near-the-car", "streamseg/car_check.py",
      "        return alpha * torch.from_numpy(np.stack(gates))",
      "        return alpha + 0 * torch.from_numpy(np.stack(gates))",
      ("tests/test_closer.py::test_isnet_photos_are_kept_near_the_car_the_default_looks_find",)),
    M("car-check-for-isnet-alone", "streamseg/edges.py", "    if photos and coarse == \"isnet\" and gated:",
      "    if photos and coarse == \"isnet\":",
      ("tests/test_edges.py::test_only_photos_behind_an_isnet_kept_to_the_car_take_the_car_check",)),
    M("edge-matte-left-as-the-networks-chance", "streamseg/edges.py",
      "redrawn = decided(chance, self.decide).to(", "redrawn = chance.to(",
      ("tests/test_edges.py::test_where_the_network_is_unsure_the_matte_is_decided",)),
    M("openvino-telemetry-left-on", "streamseg/__init__.py",
      "sys.modules.setdefault(\"openvino_telemetry\", None)  # type: ignore[arg-type]", "pass",
      ("tests/test_cpu_path.py::test_openvino_sends_no_usage_events",)),
    M("openvino-release-frees-nothing", "streamseg/backends/openvino.py", "        self.requests.clear()",
      "        pass",
      ("tests/test_cpu_path.py::test_release_frees_the_buffers_of_a_call_and_the_next_call_is_the_same",)),
    M("candidate-edge-network-measured-without-the-outline-network", "streamseg/edges.py",
      "    if photos and coarse == \"unet\":", "    if photos and coarse == \"unet\" and edge_weights is None:",
      ("tests/test_training.py::test_carvana_user_path_measures_the_candidate_networks_it_is_given",)),
    M("evaluation-keeps-the-third-look-it-was-told-to-leave", "training/evaluate_carvana.py",
      "edge_stage_for(self.backend, outline, edge_weights", "edge_stage_for(self.backend, True, edge_weights",
      ("tests/test_training.py::test_carvana_user_path_measures_the_candidate_networks_it_is_given",)),
    M("evaluation-rows-written-only-at-the-end", "training/evaluate_carvana.py",
      "                    out.write(json.dumps(row) + \"\\n\")", "                    pass",
      ("tests/test_training.py::test_carvana_evaluation_keeps_each_row_as_it_is_scored",)),
    M("all-views-tables-not-grouped-by-view", "scripts/carvana_views_doc.py",
      "        these = [k for k in rows if view_of(k) == v]", "        these = list(rows)",
      ("tests/test_training.py::test_the_all_views_tables_group_the_rows_by_view_and_car",)),
    M("training-crops-ignore-the-frame", "training/dataset.py",
      "seed, recolour, whole, frame or crop", "seed, recolour, whole, crop",
      ("tests/test_training.py::test_crops_of_a_larger_frame_show_the_car_at_that_frames_scale",)),
    M("grown-refiner-drops-the-old-features", "training/edge_refiner.py",
      "conv.weight[c, below + c, 1, 1] = 1.0", "conv.weight[c, c, 1, 1] = 1.0",
      ("tests/test_training.py::test_a_grown_refiner_starts_as_the_shallower_one_computes",)),
    M("warping-error-without-the-flow", "scripts/measure_footage.py",
      "warped = cv2.remap(alpha[t - 1], mx, my,", "warped = alpha[t - 1] + 0 * cv2.remap(alpha[t - 1], mx, my,",
      ("tests/test_footage_measures.py::test_a_matte_that_moves_with_the_picture_has_a_small_warping_error",)),
    M("unmarked-pixels-counted", "scripts/measure_footage.py", "        pred, truth = pred & scored, truth & scored",
      "        pass", ("tests/test_footage_measures.py::test_pixels_the_truth_leaves_unmarked_do_not_count",)),
    M("box-iou-of-the-box-alone", "scripts/measure_footage.py", "inter / ((px1 - px0) * (py1 - py0) + area - inter)",
      "inter / area", ("tests/test_footage_measures.py::test_box_measures",)),
    M("git-copy-reads-reserved", "training/git_copy.py", "assert not any(m in where for m in RESERVED_MARKS)",
      "assert True",
      ("tests/test_training.py::test_git_copy_reads_a_bare_copy_at_its_commit_and_never_a_reserved_source",)),
    M("no-edge-weight", "training/train.py", "weight = weight + edge_weight * (spread > 0.5).float()",
      "weight = weight",
      ("tests/test_training.py::test_edge_weight_counts_the_outline_more_than_the_inside",)),
    M("no-bottom-weight", "training/train.py",
      "weight = weight + bottom_weight * near_lower_outline(target)", "weight = weight",
      ("tests/test_training.py::test_bottom_weight_counts_the_lower_outline_more_than_the_top",)),
    M("no-edge-bottom-weight", "training/edge_refiner.py",
      "weight = weight + bottom_weight * near_lower_outline(truth)", "weight = weight",
      ("tests/test_training.py::test_edge_refiner_bottom_weight_counts_the_lower_outline_more_than_the_top",)),
    M("soup-takes-the-first", "training/edge_refiner.py",
      'sum(b["state_dict"][k].float() for b in blobs) / len(blobs)', 'blobs[0]["state_dict"][k].float()',
      ("tests/test_training.py::test_edge_refiner_soup_is_the_mean_of_its_refiners",)),
    M("frozen-video-backdrop", "streamseg/background.py",
      "            frame = next(self.frames)\n        return cast(np.ndarray, frame.rgb)",
      "            frame = next(self.frames)\n        self.first = getattr(self, 'first', frame.rgb)\n"
      "        return cast(np.ndarray, self.first)", ("tests/test_background.py::test_video_background_loops",)),
    M("first-worker-only", "streamseg/jobs.py", "for d in devices]", "for d in devices[:1]]",
      ("tests/test_batch.py::test_every_worker_takes_jobs",)),
    M("no-batch-deadline-in-batcher", "streamseg/batching.py",
      "        if self.max_wait_s is None or not self.pending:", "        if True:",
      ("tests/test_guards.py::test_batcher_deadline_closes_a_short_batch",)),
    M("no-batch-deadline-in-run", "streamseg/pipeline.py",
      "max_wait_s = opts.max_latency_ms / 1000 if opts.max_latency_ms is not None else None", "max_wait_s = None",
      ("tests/test_guards.py::test_live_batch_deadline_reaches_the_batcher",)),
    M("inputs-table-out-of-date", "streamseg/io/reader.py", "input is empty (0 bytes)", "input has no bytes",
      ("tests/test_corpus.py",)),
    M("hdr-backdrop-unmapped", "streamseg/background.py",
      "return rgb if self.colour is None else sdr_to_output(rgb, self.colour)", "return rgb",
      ("tests/test_guards.py::test_sdr_backdrop_is_mapped_into_an_hdr_output_by_a_run",)),
    M("smoothing-off-by-default", "streamseg/cli.py", '@click.option("--smooth/--no-smooth", default=True',
      '@click.option("--smooth/--no-smooth", default=False',
      ("tests/test_guards.py::test_smoothing_is_on_by_default_and_no_refine_changes_the_matte",)),
    M("no-refine-ignored", "streamseg/cli.py", "refine=not no_refine,", "refine=True,",
      ("tests/test_guards.py::test_smoothing_is_on_by_default_and_no_refine_changes_the_matte",)),
    M("devices-digits-ignored", "streamseg/backends/registry.py", 'devices.append(f"cuda:{index}")',
      'devices.append("cuda")', ("tests/test_guards.py::test_devices_parsing",)),
    M("bench-size-unchecked", "streamseg/limits.py", "        if not (w.isdigit() and h.isdigit()):",
      "        if False:",
      ("tests/test_bench.py",)),
    M("bench-says-faster-when-slower", "streamseg/bench.py", "if ratio >= 1 else", "if True else",
      ("tests/test_bench.py",)),
    M("bench-no-disagreement-warning", "streamseg/bench.py", "for stage, x in self.spread.items() if x > limit]",
      "for stage, x in self.spread.items() if False]", ("tests/test_bench.py",)),
    M("sample-silent", "streamseg/cli.py", "progress=bar.update)", "progress=None)",
      ("tests/test_run.py::test_sample_shows_progress",)),
    M("train-always-trains", "streamseg/cli.py", '"training.distil" if distil else "training.train"',
      '"training.train"', ("tests/test_distil.py::test_cli_train_runs_the_training_programs",)),
    M("cache-env-ignored", "streamseg/models/names.py", 'os.environ.get("STREAMSEG_CACHE")', "None",
      ("tests/test_guards.py::test_streamseg_cache_holds_the_converted_model",)),
    M("no-8k-refusal", "streamseg/io/reader.py", "if ctx.width * ctx.height > MAX_PIXELS:", "if False:",
      ("tests/test_guards.py::test_larger_than_8k_is_refused",)),
    M("internal-error-escapes", "streamseg/cli.py", "        except Exception as e:  # noqa: BLE001  a bug",
      "        except ArithmeticError as e:  # noqa: BLE001  a bug",
      ("tests/test_guards.py::test_a_bug_is_reported_as_an_internal_error",)),
    M("no-frame-count-guard", "streamseg/pipeline.py", "if self.frames_out != self.frames_in:", "if False:",
      ("tests/test_guards.py::test_frames_lost_between_decoder_and_encoder_fail_the_run",)),
    M("batcher-drops-tail", "streamseg/batching.py", "        if not self.pending:\n            return None",
      "        if len(self.pending) < self.batch_size:\n            return None",
      ("tests/test_guards.py::test_batcher_fills_flushes_and_keeps_order",)),
    # issue 11
    M("photo-not-upright", "streamseg/photo.py", "            ImageOps.exif_transpose(im, in_place=True)",
      "            pass",
      ("tests/test_photos.py",)),
    M("heic-not-registered", "streamseg/photo.py", "        pillow_heif.register_heif_opener()", "        pass",
      ("tests/test_photos.py::test_heic_from_a_phone_is_read_upright",)),
    M("photos-in-a-batch-run-as-videos", "streamseg/jobs.py", "    if is_photo(job.source):\n        summary = photo",
      "    if False:\n        summary = photo",
      ("tests/test_photos.py::test_a_folder_of_photos_and_videos_goes_through_one_manifest_and_resume",)),
    M("no-bar-over-a-photo-set", "streamseg/cli.py", "        several = p.record is not None or p.inputs > 1\n",
      "        several = False\n",
      ("tests/test_photos.py::test_a_photo_set_shows_one_progress_bar",)),
    M("shadow-above-the-floor-line", "streamseg/studio.py",
      "    band[below[:, None] < lift[None]] = 0  # nothing above the floor line\n", "",
      ("tests/test_wheels.py::test_the_floor_line_runs_through_the_contacts_and_no_shadow_is_above_it",)),
    M("fit-not-steadied", "streamseg/studio.py",
      "steady = self.fit_filter(np.array([box.x0, box.y0, box.x1, box.y1]), seconds)",
      "steady = np.array([box.x0, box.y0, box.x1, box.y1])", ("tests/test_studio.py",)),
    M("fit-lags", "streamseg/studio.py", "self.fit_filter = OneEuro(min_cutoff=0.3, beta=0.3)",
      "self.fit_filter = OneEuro(min_cutoff=0.3, beta=0.0)", ("tests/test_studio.py",)),
    M("no-shadow-by-default", "streamseg/api.py", '        shadow = layers == "rgb" and drawn is not None',
      "        shadow = False", ("tests/test_studio.py",)),
    M("fused-compositor-ignores-shade", "streamseg/cpu_compositor.py",
      "_darken(np.float32(b[min(np.int64(x), b.shape[0] - 1), c]), sh[x],\n"
      "                                                    shadow_rgb[c])",
      "np.float32(b[min(np.int64(x), b.shape[0] - 1), c])",
      ("tests/test_studio.py::test_the_compositors_shadow_matches_the_studio_stage",)),
    M("output-size-ignored", "streamseg/pipeline.py", "replace(info, width=width, height=height)", "info",
      ("tests/test_studio.py::test_run_fit_and_size_place_the_car_in_a_frame_of_that_size",)),
    M("compiled-build-elsewhere", "streamseg/cli.py",
      "path, message = ensure_package(model_path, default_cache_dir(), dev, profile, fp16)",
      "path, message = ensure_package(model_path, default_cache_dir() / 'x', dev, profile, fp16)",
      ("tests/test_compiled.py::test_build_engine_compiled_command_builds_into_the_cache_a_run_reads",)),
    # issue 10
    M("fused-compositor-no-smoothing", "streamseg/cpu_compositor.py",
      "q[x] = v + strength * (u * s0[x] + t * s1[x]) * d / e", "q[x] = v", ("tests/test_cpu_compositor.py",)),
    M("fused-compositor-colour-row-kept-after-shadow", "streamseg/cpu_compositor.py",
      "built = -1 if shaded else row", "built = row",
      ("tests/test_cpu_compositor.py::test_fused_cpu_path_shades_the_backdrop_like_the_tensor_path",)),
    M("fused-compositor-flat-blend-reversed", "streamseg/cpu_compositor.py",
      "k + matte[i] * (np.float32(frame[i]) - k)", "k + matte[i] * (k - np.float32(frame[i]))",
      ("tests/test_cpu_compositor.py",)),
    M("fused-compositor-corner-aligned", "streamseg/cpu_compositor.py",
      "s = max((x + np.float32(0.5)) * scale - np.float32(0.5), np.float32(0))", "s = max(x * scale, np.float32(0))",
      ("tests/test_cpu_compositor.py",)),
    M("prores-untagged-frames", "streamseg/colour.py",
      "out.colorspace, out.color_primaries, out.color_trc = self.matrix, self.primaries, self.trc",
      "out.colorspace = self.matrix", ("tests/test_colour.py::test_writer_output_shows_the_colours_it_was_given",)),
    M("json-failure-silent", "streamseg/cli.py", "    if as_json:  # --json promises",
      "    if False:  # --json promises",
      ("tests/test_run.py::test_json_failure_is_a_json_object_even_when_quiet",)),
    M("info-raw-dict", "streamseg/cli.py", """click.echo(f"  {describe_scores(meta.get('held_out'))}")""",
      """click.echo(f"  {meta.get('held_out')}")""", ("tests/test_run.py::test_info_says_the_model_scores_in_words",)),
    M("cpu-batch-8", "streamseg/pipeline.py", 'return 1 if device.type == "cpu" else 8', "return 8",
      ("tests/test_cpu_path.py::test_auto_batch_size_is_one_on_the_cpu",)),
    # issue 23: IS-Net kept to the car
    M("gate-landscape-only", "streamseg/models/gate.py",
      "allowed = torch.maximum(*(self.allowed(half, size) for size in self.sizes))",
      "allowed = self.allowed(half, self.sizes[0])",
      ("tests/test_models.py::test_gate_keeps_the_salient_matte_only_where_a_car_is",)),
    M("gate-not-widened", "streamseg/models/gate.py",
      "allowed = F.max_pool2d((car >= CAR).to(half.dtype), k, stride=1, padding=grow)",
      "allowed = (car >= CAR).to(half.dtype)",
      ("tests/test_models.py::test_gate_keeps_the_salient_matte_only_where_a_car_is",)),
    M("gate-not-remade", "streamseg/models/gate.py", "== made_from and out.is_file()", "is not None and out.is_file()",
      ("tests/test_models.py::test_isnet_is_gated_by_the_default_model_and_remade_when_either_changes",)),
    # issue 27: the subject vehicle, steady over time
    M("vehicles-ignored", "streamseg/pipeline.py", 'else []) + ([SubjectTracker()] if vehicles == "subject" else [])',
      "else [])", ("tests/test_vehicles.py::test_two_cars_in_a_video",
                   "tests/test_vehicles.py::test_subject_is_the_default_for_photos")),
    M("vehicles-all-drops-too", "streamseg/pipeline.py", '([SubjectTracker()] if vehicles == "subject" else [])',
      "[SubjectTracker()]", ("tests/test_vehicles.py::test_two_cars_in_a_video",)),
    M("subject-not-followed", "streamseg/vehicles.py",
      "        if self.prev is not None:\n            overlap", "        if False:\n            overlap",
      ("tests/test_vehicles.py::test_the_subject_is_followed_not_the_most_prominent",)),
    M("subject-pieces-dropped", "streamseg/vehicles.py",
      "if (piece & near).any() and piece.sum() < 0.25 * subject.sum():", "if False:",
      ("tests/test_vehicles.py::test_a_cut_chooses_afresh_and_split_pieces_stay",)),
    M("subject-merge-kept", "streamseg/vehicles.py",
      "split = subject & (distance_to(self.prev) <= distance_to(self.prev_others))", "split = subject",
      ("tests/test_vehicles.py::test_a_car_that_comes_to_touch_the_subject_stays_out",)),
    M("steadier-drags-stale-matte", "streamseg/temporal.py", "weight = self.strength * match * agree * inside",
      "weight = self.strength * inside",
      ("tests/test_temporal.py::test_flow_steadier_never_drags_a_stale_matte_onto_a_jump",)),
    M("steadier-does-nothing", "streamseg/temporal.py", "weight = self.strength * match * agree * inside",
      "weight = 0 * match * agree * inside", ("tests/test_temporal.py::test_flow_steadier_calms_a_moving_outline",)),
    M("export-traced-at-full-size", "streamseg/export.py", "    if max(height, width) <= longest:",
      "    if True:", ("tests/test_export.py::test_large_input_is_traced_small_and_exact_at_its_size",)),
    # issue 25: the Python API gives what the command gives, with its guarantees
    M("api-pictures-not-as-the-cli", "streamseg/api.py", "refine=self.refine, look=look,",
      "refine=not self.refine, look=look,", ("tests/test_api.py::test_pictures_in_memory_give_the_clis_pixels",)),
    M("api-bytes-always-png", "streamseg/api.py", '    if layers != "rgb" or fmt not in set(SAVE_AS.values()):',
      "    if True:", ("tests/test_api.py::test_bytes_come_back_in_the_inputs_format",)),
    M("segmenter-not-serialized", "streamseg/api.py", "        with self.lock:\n            return self.inner(x)",
      "        return self.inner(x)",
      ("tests/test_api.py::test_a_segmenter_shared_by_threads_gives_each_its_own_answer",)),
    M("job-output-unchecked", "streamseg/jobs.py", "    check_job(job, opts.fmt, opts.overwrite)\n", "",
      ("tests/test_api.py::test_convert_refuses_to_replace_a_file_or_the_input",)),
    M("convert-no-final-progress", "streamseg/api.py",
      "        progress(Progress(job.source, done, total if total is not None else done, 1, 1))", "        pass",
      ("tests/test_api.py::test_convert_gives_typed_summaries_and_progress",)),
    M("convert-options-unchecked", "streamseg/api.py", 'vehicles=choice("vehicles", vehicles, VEHICLES)',
      "vehicles=vehicles", ("tests/test_api.py::test_options_are_checked_with_their_python_names",)),
    M("single-input-manifest-ignored", "streamseg/api.py",
      "    if single and not (manifest or devices or ray or resume):", "    if single and not (ray or resume):",
      ("tests/test_api.py::test_a_single_input_honours_manifest_and_devices",)),
    M("shadow-measured-on-the-cut-out", "streamseg/studio.py",
      "out.append(self.studio(cut[k], backdrop, seconds, mattes[k]))",
      "out.append(self.studio(cut[k], backdrop, seconds))",
      ("tests/test_studio_seam.py",)),
    # issue 26: the drawn backdrops' shadow colour, on every path
    M("shadow-colour-not-in-the-fused-pass", "streamseg/cpu_compositor.py",
      "sh[x],\n                                                    shadow_rgb[c])",
      "sh[x],\n                                                    np.float32(0))",
      ("tests/test_studio_seam.py::test_the_shadow_takes_the_backdrops_colour_on_every_path",)),
    M("shadow-colour-not-in-the-cut-out-path", "streamseg/studio.py",
      "        return blend(rgba, backdrop, shadow, reflection, look.shadow_colour)",
      "        return blend(rgba, backdrop, shadow, reflection)",
      ("tests/test_studio_seam.py::test_the_shadow_takes_the_backdrops_colour_on_every_path",)),
    M("memory-float-backdrop", "streamseg/background.py",
      "            self.static = picture if colour is None else pixels(self._mapped(to_planar(picture)))",
      "            self.static = picture if colour is None else pixels(self._mapped(to_planar(picture)))\n"
      "            self.float_copy = to_planar(picture).clone()",
      ("tests/test_faults.py::test_a_large_photo_costs_far_less_than_57_bytes_a_pixel",)),
    # issue 26: the floor line through every wheel
    M("floor-always-level", "streamseg/studio.py",
      "    return np.interp(xs, contacts[order, 0], contacts[order, 1])",
      "    return np.full(len(xs), contacts[:, 1].max(), np.float64)",
      ("tests/test_wheels.py",)),
]


def scratch_copy(dest: Path) -> None:
    """The tracked and untracked-but-not-ignored files of the checkout (no venv, data or caches)."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def check(m: Mutation, copy: Path, timeout: int) -> tuple[str, float]:
    """'caught', 'SURVIVED' or 'STALE' (the text to replace is gone), and the seconds its tests took."""
    path = copy / m.file
    original = path.read_text()
    if original.count(m.old) != 1:
        return "STALE", 0.0
    path.write_text(original.replace(m.old, m.new))
    env = {**os.environ, "PYTHONPATH": str(copy)}
    t = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *m.tests],
                              cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
        verdict = "caught" if done.returncode != 0 else "SURVIVED"
    except subprocess.TimeoutExpired:
        verdict = "caught"  # a hang is a failure too
    finally:
        path.write_text(original)
    return verdict, time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated mutation names")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per mutation's tests")
    args = ap.parse_args(argv)
    chosen = MUTATIONS
    if args.only:
        names = set(args.only.split(","))
        chosen = [m for m in MUTATIONS if m.name in names]
        if unknown := names - {m.name for m in chosen}:
            raise SystemExit(f"unknown mutation(s): {', '.join(sorted(unknown))}")
    if args.list:
        for m in chosen:
            print(f"{m.name:32s} {m.file:32s} {' '.join(m.tests)}")
        return
    bad = []
    with tempfile.TemporaryDirectory(prefix="streamseg-mutants-") as tmp:
        copy = Path(tmp)
        scratch_copy(copy)
        for m in chosen:
            verdict, seconds = check(m, copy, args.timeout)
            print(f"{verdict:8s} {m.name:32s} ({seconds:.0f} s; {' '.join(m.tests)})", flush=True)
            if verdict != "caught":
                bad.append(m.name)
    print(f"{len(chosen) - len(bad)} of {len(chosen)} breakages caught" + (f"; not: {', '.join(bad)}" if bad else ""))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
