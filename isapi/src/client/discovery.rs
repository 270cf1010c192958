//! Discovery: what a device is, its clock, its channels and recording tracks.

use reqwest::Method;

use super::Device;
use crate::{
    error::Result,
    time::DeviceZone,
    xml::{
        DeviceInfo, DeviceTime, InputProxyChannel, InputProxyChannelList, SearchProfile,
        StreamingChannel, StreamingChannelList, Track, TrackList,
    },
};

/// Everything discovery found on a device.
#[derive(Debug, Clone)]
pub struct Discovery {
    pub info: DeviceInfo,
    pub zone: DeviceZone,
    pub streaming_channels: Vec<StreamingChannel>,
    /// The cameras an NVR records (empty on cameras).
    pub proxy_channels: Vec<InputProxyChannel>,
    /// The recording tracks (on cameras without the tracks endpoint: the main streams).
    pub tracks: Vec<Track>,
    pub search_profile: SearchProfile,
}

impl Device {
    pub async fn device_info(&self) -> Result<DeviceInfo> {
        let req = self.xml_request(Method::GET, "/ISAPI/System/deviceInfo");
        self.fetch_xml(&req, "DeviceInfo").await
    }

    pub async fn time(&self) -> Result<DeviceTime> {
        let req = self.xml_request(Method::GET, "/ISAPI/System/time");
        self.fetch_xml(&req, "Time").await
    }

    pub async fn streaming_channels(&self) -> Result<Vec<StreamingChannel>> {
        let req = self.xml_request(Method::GET, "/ISAPI/Streaming/channels");
        let list: StreamingChannelList = self.fetch_xml(&req, "StreamingChannelList").await?;
        Ok(list.channels)
    }

    /// An NVR's proxied camera channels.
    pub async fn input_proxy_channels(&self) -> Result<Vec<InputProxyChannel>> {
        let req = self.xml_request(Method::GET, "/ISAPI/ContentMgmt/InputProxy/channels");
        let list: InputProxyChannelList = self.fetch_xml(&req, "InputProxyChannelList").await?;
        Ok(list.channels)
    }

    pub async fn tracks(&self) -> Result<Vec<Track>> {
        let req = self.xml_request(Method::GET, "/ISAPI/ContentMgmt/record/tracks");
        let list: TrackList = self.fetch_xml(&req, "TrackList").await?;
        Ok(list.tracks)
    }

    /// Reads everything above. Endpoints a device does not have (InputProxy on a camera,
    /// record/tracks on old cameras) are tolerated; any other failure is returned.
    pub async fn discover(&self) -> Result<Discovery> {
        let info = self.device_info().await?;
        let zone = self.zone().await?;
        let streaming_channels = self.streaming_channels().await?;
        let proxy_channels = if info.is_recorder() {
            self.input_proxy_channels().await?
        } else {
            Vec::new()
        };
        let tracks = match self.tracks().await {
            Ok(tracks) => tracks,
            Err(e) if super::is_not_supported(&e) => streaming_channels
                .iter()
                .filter(|c| c.id % 100 == 1)
                .map(|c| Track {
                    id: c.id,
                    channel: Some(c.id / 100),
                    enable: c.enabled,
                    description: c.channel_name.clone(),
                })
                .collect(),
            Err(e) => return Err(e),
        };
        let search_profile = self.search_profile().await?;
        Ok(Discovery {
            info,
            zone,
            streaming_channels,
            proxy_channels,
            tracks,
            search_profile,
        })
    }
}
