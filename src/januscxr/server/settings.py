"""The one ``Settings`` of the reading room: defaults < TOML file < environment < flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from januscxr.io.limits import DEFAULT_MAX_PIXELS

CONFIG_ENV = "JANUSCXR_CONFIG"


class Settings(BaseSettings):
    """Reading-room settings. Environment variables are ``JANUSCXR_<NAME>``; a TOML file
    named by ``JANUSCXR_CONFIG`` sits below them; command-line flags win."""

    model_config = SettingsConfigDict(env_prefix="JANUSCXR_", extra="ignore")

    data_dir: Path = Field(default=Path("januscxr-data"), description="Uploaded images, display PNGs, the SQLite file.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/januscxr.db"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    processes: int = Field(
        default=1, ge=1, le=64, description="Web processes of `januscxr serve` on one port (workers run once)."
    )
    classifier: str | None = Field(default=None, description="Registered classifier; the bundled one by default.")
    reporter: str | None = Field(default=None, description="Registered reporter; the bundled composer by default.")
    gate: str | None = Field(default=None, description="Registered chest-radiograph gate; the bundled one by default.")
    models_dir: Path | None = Field(
        default=None, description="Folder of pulled vision-language weights; default ~/.cache/januscxr/models."
    )
    device: str | None = Field(default=None, description="Janus reporter: cuda, cpu or auto (CUDA when available).")
    precision: str = Field(
        default="auto", description="Janus reporter: auto (bfloat16 on CUDA, float32 on CPU), float32, bfloat16, int8."
    )
    max_new_tokens: int = Field(default=512, ge=1, le=4096, description="Janus reporter: longest draft, in tokens.")
    reporter_batch_size: int = Field(
        default=1, ge=1, le=64, description="Janus reporter: studies drafted together (faster on a GPU)."
    )
    inference_workers: int = Field(default=1, ge=1, le=16)
    job_lease_s: float = Field(default=300.0, gt=0, description="A job unrenewed this long is taken by another worker.")
    job_max_attempts: int = Field(
        default=3, ge=1, description="Attempts at one image (worker died, unexpected error) before it is set aside."
    )
    job_poll_s: float = Field(default=1.0, gt=0, description="How often an idle worker looks for queued jobs.")
    study_quiet_s: float = Field(
        default=10.0,
        ge=0,
        description="A study received over the network (DICOM listener, DICOMweb) is read once no new instance "
        "has arrived for this long; 0: at once. Uploads and the watched folder are read at once.",
    )
    watch_dir: Path | None = Field(default=None, description="Folder polled for new DICOM/PNG/JPEG files.")
    watch_interval_s: float = 5.0
    study_mode: bool = Field(default=False, description="Randomise cases to AI-assisted vs standard reading.")
    study_seed: str = Field(default="januscxr-study", description="Seed of the arm randomisation.")
    session_ttl_s: float = 12 * 3600
    secure_cookies: bool = Field(default=False, description="Mark cookies Secure (set behind HTTPS).")
    login_max_failures: int = Field(default=5, ge=1, description="Failed logins per account per window.")
    login_max_failures_per_address: int = Field(
        default=50, ge=1, description="Failed logins per client address per window (readers often share one NAT)."
    )
    login_window_s: float = Field(default=300.0, gt=0, description="The login throttle's window.")
    idle_after_s: float = Field(default=60.0, description="Reading time stops after this long with no input.")
    max_upload_mb: int = Field(
        default=200, ge=1, description="Largest upload request body; larger ones are refused with 413 while streaming."
    )
    read_timeout_s: float = Field(
        default=60.0, gt=0, description="Time limit for decoding one image; a slower file is abandoned as failed."
    )
    max_image_pixels: int = Field(
        default=DEFAULT_MAX_PIXELS, ge=1, description="Images with more pixels (rows x columns) are refused undecoded."
    )
    dicom_port: int | None = Field(
        default=None, ge=0, le=65535, description="DICOM listener (C-ECHO, C-STORE SCP) port; None: no listener."
    )
    dicom_ae_title: str = Field(default="JANUSCXR", description="The listener's own (called) AE title.")
    dicom_bind_address: str = Field(default="127.0.0.1", description="Address the DICOM listener binds to.")
    dicom_allowed_callers: list[str] = Field(
        default_factory=list, description='Calling AE titles allowed, "AE" or "AE@host"; empty: any.'
    )
    dicom_accept_secondary_capture: bool = Field(
        default=False, description="Store Secondary Capture chest images too (skipped otherwise)."
    )
    dicomweb_url: str | None = Field(
        default=None, description="DICOMweb root of a PACS to poll (e.g. https://pacs/dicom-web); None: no poller."
    )
    dicomweb_name: str = Field(default="pacs", description='The polled server\'s name: studies show "dicomweb:<name>".')
    dicomweb_username: str | None = Field(default=None, description="Basic authentication user of the DICOMweb server.")
    dicomweb_password: SecretStr | None = Field(default=None, description="Basic authentication password.")
    dicomweb_token: SecretStr | None = Field(default=None, description="Bearer token (instead of user and password).")
    dicomweb_poll_s: float = Field(default=30.0, gt=0, description="Seconds between polls; failed polls back off.")
    dicomweb_timeout_s: float = Field(default=30.0, gt=0, description="Connect and read timeout of each request.")
    dicomweb_modalities: list[str] = Field(
        default_factory=lambda: ["CR", "DX"], description="Modalities in Study asked for, one query each."
    )
    dicomweb_body_part: str | None = Field(
        default="CHEST", description="Body Part Examined of the series retrieved; empty: any."
    )
    dicomweb_station: str | None = Field(default=None, description="Station Name of the series retrieved; None: any.")
    dicomweb_institution: str | None = Field(
        default=None, description="Institution Name of the series retrieved; None: any."
    )
    dicomweb_overlap_days: int = Field(
        default=1, ge=0, description="Days before the newest Study Date seen (at first: today) that each poll asks for."
    )
    dicomweb_max_attempts: int = Field(
        default=5, ge=1, description="Failed retrievals of one study before it is set aside (on the admin page)."
    )
    outbound_dicom: list[str] = Field(
        default_factory=list, description='C-STORE destinations of AI results and reports, "AE@host:port" each.'
    )
    outbound_stow_url: str | None = Field(default=None, description="DICOMweb root to STOW-RS the same objects to.")
    outbound_stow_username: str | None = Field(default=None, description="Basic authentication user of STOW-RS.")
    outbound_stow_password: SecretStr | None = Field(default=None, description="Basic authentication password.")
    outbound_stow_token: SecretStr | None = Field(
        default=None, description="Bearer token (instead of user and password)."
    )
    outbound_mllp_host: str | None = Field(
        default=None, description="HL7 v2 receiver (RIS, interface engine) of ORU^R01."
    )
    outbound_mllp_port: int | None = Field(default=None, ge=1, le=65535, description="Its MLLP port.")
    outbound_hl7_sending_application: str = Field(default="JANUSCXR", description="MSH-3.")
    outbound_hl7_sending_facility: str = Field(default="", description="MSH-4.")
    outbound_hl7_receiving_application: str = Field(default="", description="MSH-5.")
    outbound_hl7_receiving_facility: str = Field(default="", description="MSH-6.")
    outbound_hl7_processing_id: str = Field(default="P", description="MSH-11: P production, T training, D debugging.")
    outbound_fhir_url: str | None = Field(default=None, description="FHIR R4 base URL receiving DiagnosticReports.")
    outbound_fhir_username: str | None = Field(
        default=None, description="Basic authentication user of the FHIR server."
    )
    outbound_fhir_password: SecretStr | None = Field(default=None, description="Basic authentication password.")
    outbound_fhir_token: SecretStr | None = Field(
        default=None, description="Bearer token (instead of user and password)."
    )
    outbound_fhir_identifier_system: str = Field(
        default="urn:januscxr:accession", description="URI under which the accession number identifies the report."
    )
    outbound_organization: str = Field(
        default="januscxr", description="The signers' organisation (Verifying Organization of the report SR)."
    )
    outbound_send_ai_sr: bool = Field(default=True, description="Send the AI results SR (TID 1500).")
    outbound_send_heatmaps: bool = Field(
        default=True, description="Send a heatmap Secondary Capture per flagged finding."
    )
    outbound_send_report_sr: bool = Field(default=True, description="Send the signed report SR (TID 2000).")
    outbound_send_draft_sr: bool = Field(default=False, description="Send the AI draft as a preliminary SR.")
    outbound_send_draft_hl7: bool = Field(default=False, description="Send the AI draft as ORU^R01 with status P.")
    outbound_timeout_s: float = Field(default=30.0, gt=0, description="Connect and answer timeout of each send.")
    outbound_backoff_base_s: float = Field(
        default=10.0, gt=0, description="Wait after a failed send; doubles each time."
    )
    outbound_backoff_cap_s: float = Field(
        default=600.0, gt=0, description="Longest wait between tries; a failing item is tried at this pace until sent."
    )
    outbound_poll_s: float = Field(default=1.0, gt=0, description="How often an idle sender looks for items.")

    def reporter_options(self) -> dict[str, Any]:
        """What :func:`januscxr.pipeline.load_reporter` takes besides the name."""
        return {
            "models_dir": self.models_dir,
            "device": self.device,
            "precision": self.precision,
            "max_new_tokens": self.max_new_tokens,
        }

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'januscxr.db').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_ENV)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(**flags: Any) -> Settings:
    """Settings with the flags that were given (None means not given) on top."""
    return Settings(**{k: v for k, v in flags.items() if v is not None})
